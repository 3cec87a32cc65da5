/** The voice picker's choices (`src/web/voices.js`), tested as plain functions over `/api/voices`' shape. */
import assert from "node:assert/strict";
import { chooseVoiceForGender, describeVoice } from "../../src/web/voices.js";
import type { Voice } from "../../src/api/types.ts";

const voice = (id: string, gender: string | null, label: string | null = null): Voice => ({
  id,
  label,
  gender,
  labelSource: label === null ? null : "guess",
});

Deno.test("voices: the quick choice is the seed's voice for the gender when the engine has it", () => {
  const voices = [
    voice("ash", "male"),
    voice("alloy", "male"),
    voice("coral", "female"),
    voice("shimmer", "female"),
  ];
  assert.equal(chooseVoiceForGender(voices, "male"), "alloy");
  assert.equal(chooseVoiceForGender(voices, "female"), "shimmer");
});

Deno.test("voices: without the seed's voice, the first of the gender; without any, the script's own", () => {
  assert.equal(
    chooseVoiceForGender([voice("verse", null), voice("ash", "male"), voice("echo", "male")], "male"),
    "ash",
  );
  // The seed's id with another gender is not taken for this one.
  assert.equal(chooseVoiceForGender([voice("shimmer", "male"), voice("sage", "female")], "female"), "sage");
  assert.equal(chooseVoiceForGender([voice("verse", null)], "female"), "");
});

Deno.test("voices: a voice is shown with its label when it has one", () => {
  assert.equal(describeVoice(voice("ash", "male", "clear, male")), "ash — clear, male");
  assert.equal(describeVoice(voice("marin", null)), "marin");
});
