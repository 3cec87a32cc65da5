/** Fills a voice picker from `/api/voices`, labelled as OpenAI's voices sound. */
import { api, h } from "./app.js";

/** @typedef {import("../api/types.ts").Voice} Voice */

/** @type {Map<string, Voice[]>} */
const cache = new Map();

/** @param {string} engine @returns {Promise<Voice[]>} */
export async function voicesOf(engine) {
  let voices = cache.get(engine);
  if (voices === undefined) {
    const list = /** @type {import("../api/types.ts").VoiceList} */ (
      await api(`/api/voices?engine=${encodeURIComponent(engine)}`)
    );
    voices = list.voices;
    cache.set(engine, voices);
  }
  return voices;
}

/**
 * Fills `select` with the persona's own voice first, then every voice of the engine.
 * @param {HTMLSelectElement} select @param {string} engine @param {string} own
 */
export async function fillVoices(select, engine, own) {
  const voices = await voicesOf(engine);
  const describe = (/** @type {Voice} */ v) => v.label === null ? v.id : `${v.id} — ${v.label}`;
  const ownVoice = voices.find((v) => v.id === own);
  select.replaceChildren(
    h("option", { value: "" }, `Script’s own: ${ownVoice === undefined ? own : describe(ownVoice)}`),
    ...voices.map((v) => h("option", { value: v.id }, describe(v))),
  );
}

/**
 * The quick choice: the first voice of `gender` (the seed's pick when the engine has it).
 * @param {string} engine @param {string} gender
 */
export async function voiceForGender(engine, gender) {
  const voices = await voicesOf(engine);
  const seed = gender === "male" ? "alloy" : "shimmer";
  return voices.find((v) => v.id === seed && v.gender === gender)?.id ??
    voices.find((v) => v.gender === gender)?.id ?? "";
}
