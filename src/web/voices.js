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
 * A voice as the picker shows it: `ash — clear, male` or just its id when it has no label.
 * @param {Voice} voice @returns {string}
 */
export function describeVoice(voice) {
  return voice.label === null ? voice.id : `${voice.id} — ${voice.label}`;
}

/**
 * Fills `select` with the persona's own voice first, then every voice of the engine.
 * @param {HTMLSelectElement} select @param {string} engine @param {string} own
 */
export async function fillVoices(select, engine, own) {
  const voices = await voicesOf(engine);
  const ownVoice = voices.find((v) => v.id === own);
  select.replaceChildren(
    h("option", { value: "" }, `Script’s own: ${ownVoice === undefined ? own : describeVoice(ownVoice)}`),
    ...voices.map((v) => h("option", { value: v.id }, describeVoice(v))),
  );
}

/**
 * The quick choice among `voices`: the seed's pick for `gender` (`alloy`, `shimmer`) when it is
 * there, else the first voice of that gender, else "" (the script's own).
 * @param {readonly Voice[]} voices @param {string} gender @returns {string}
 */
export function chooseVoiceForGender(voices, gender) {
  const seed = gender === "male" ? "alloy" : "shimmer";
  return voices.find((v) => v.id === seed && v.gender === gender)?.id ??
    voices.find((v) => v.gender === gender)?.id ?? "";
}

/**
 * The quick choice for an engine: {@linkcode chooseVoiceForGender} over its voices.
 * @param {string} engine @param {string} gender
 */
export async function voiceForGender(engine, gender) {
  return chooseVoiceForGender(await voicesOf(engine), gender);
}
