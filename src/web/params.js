/** `name=value` lines ↔ objects, for the parameter text areas. */

/**
 * Parses one `name=value` pair a line; blank lines are skipped.
 * @param {string} text
 * @returns {{ ok: true, value: Record<string, string> } | { ok: false, error: string }}
 */
export function parseParams(text) {
  /** @type {Record<string, string>} */
  const value = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "") continue;
    const at = line.indexOf("=");
    if (at <= 0) return { ok: false, error: `Line ${i + 1}: "${line.slice(0, 40)}" is not name=value` };
    value[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return { ok: true, value };
}

/** @param {Record<string, string>} params @returns {string} */
export function formatParams(params) {
  return Object.entries(params).map(([k, v]) => `${k}=${v}`).join("\n");
}
