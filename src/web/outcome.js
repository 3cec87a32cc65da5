/** A call's outcome (the post-call analysis) in words, for the call page and the calls list. */
import { h } from "./app.js";

/** @typedef {import("../api/types.ts").CallOutcome} CallOutcome */

/**
 * One outcome value in words: yes/no, — for null, lists joined, objects as `key: value`.
 * @param {unknown} value @returns {string}
 */
export function outcomeValueWords(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.length === 0 ? "none" : value.map(outcomeValueWords).join(", ");
  if (typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${fieldWords(k)}: ${outcomeValueWords(v)}`).join(", ");
  }
  return String(value);
}

/** `meetingDay` → `meeting day`, `callback_number` → `callback number`. */
export function fieldWords(/** @type {string} */ name) {
  return name.replace(/_/g, " ").replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
}

/** Where the analysis is, in a few words. */
export function outcomeStateWords(/** @type {CallOutcome | null | undefined} */ outcome) {
  if (outcome === null || outcome === undefined) return "";
  if (outcome.state === "done") return "analysed";
  if (outcome.state === "failed") return `analysis failed: ${outcome.error ?? "no reason given"}`;
  return outcome.attempts === 0 || outcome.error === null
    ? "being analysed…"
    : `being analysed (try ${outcome.attempts} failed: ${outcome.error}; trying again)`;
}

/** The outcome's fields as a definition list. */
export function outcomeList(/** @type {Record<string, unknown>} */ result) {
  return Object.entries(result).map(([name, value]) =>
    h("div", {}, h("dt", {}, fieldWords(name)), h("dd", {}, outcomeValueWords(value)))
  );
}
