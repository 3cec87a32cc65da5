/** Shared helpers of Parley's pages: the JSON API, small DOM builders, field errors. */

/** An error answer of Parley's API. */
export class ApiError extends Error {
  /** @param {number} status @param {string} message @param {string | undefined} field */
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

/**
 * Calls Parley's JSON API with the session cookie. A 401 sends the browser to the sign-in page. The
 * answer is `unknown`: callers name its type from `src/api/types.ts`, the module the server answers with.
 * @param {string} path
 * @param {{ method?: string, body?: unknown, text?: string, contentType?: string }} [options]
 * @returns {Promise<unknown>} the parsed JSON, or null for 204
 */
export async function api(path, options = {}) {
  /** @type {RequestInit} */
  const init = { method: options.method ?? "GET", headers: {}, credentials: "same-origin" };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers = { "content-type": "application/json" };
  } else if (options.text !== undefined) {
    init.body = options.text;
    init.headers = { "content-type": options.contentType ?? "text/plain" };
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new ApiError(401, "Signed out: sign in again", undefined);
  }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok && response.status !== 207) {
    /** @type {Partial<import("../api/types.ts").ApiErrorBody>} */
    const problem = body;
    const message = typeof problem.error === "string" ? problem.error : `HTTP ${response.status}`;
    const field = problem.field ?? /^(?:Field|Parameter|Query) "([^"]+)"/.exec(message)?.[1];
    throw new ApiError(response.status, message, field);
  }
  return body;
}

/**
 * `request`'s answer; when the API refuses it (an {@link ApiError}), undefined, with the refusal shown
 * next to the field or control `id` (after `what: `, when given). Any other failure is thrown.
 * @template T
 * @param {string} id @param {Promise<T>} request @param {string} [what]
 * @returns {Promise<T | undefined>}
 */
export async function refusalShown(id, request, what) {
  try {
    return await request;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    fieldError(id, what === undefined ? error.message : `${what}: ${error.message}`);
    return undefined;
  }
}

/**
 * Every lead, by name: the API's pages (at most 1000 leads each) followed to the last.
 * @returns {Promise<import("../api/types.ts").Lead[]>}
 */
export async function allLeads() {
  /** @type {import("../api/types.ts").Lead[]} */
  const leads = [];
  /** @type {string | null} */
  let after = null;
  do {
    const page = /** @type {import("../api/types.ts").LeadList} */ (
      await api(`/api/leads?limit=1000${after === null ? "" : `&after=${encodeURIComponent(after)}`}`)
    );
    leads.push(...page.leads);
    after = page.next;
  } while (after !== null);
  return leads;
}

/**
 * Builds an element: `h("a", { href: "/" }, "Home")`.
 * @param {string} tag
 * @param {Record<string, unknown>} [attributes]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    } else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
  return element;
}

/**
 * The element `#id` (a page's own markup: it must be there). Typed as an `HTMLElement`: cast it to
 * use an input's or a form's own members, so the checker sees each use.
 * @param {string} id @returns {HTMLElement}
 */
export function $(id) {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`No element #${id}`);
  return element;
}

/**
 * The `<input>` with id `id` (its value, files, checked state); throws as {@linkcode $} does.
 * @param {string} id @returns {HTMLInputElement}
 */
export function input(id) {
  return /** @type {HTMLInputElement} */ ($(id));
}

/**
 * Shows `message` next to the field `id` (its `#<id>-error` element) and marks the field invalid;
 * an empty message clears it.
 * @param {string} id @param {string} message
 */
export function fieldError(id, message) {
  const field = document.getElementById(id);
  const slot = document.getElementById(`${id}-error`);
  if (slot !== null) {
    slot.textContent = message === "" ? "" : `⚠ ${message}`;
    slot.hidden = message === "";
  }
  if (field !== null) {
    if (message === "") field.removeAttribute("aria-invalid");
    else {
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", `${id}-error`);
    }
  }
}

/**
 * Posts the CSV file chosen in the file input `id` to `path` and returns the API's answer; or shows
 * under the input why not (no file chosen, or the API's refusal) and returns undefined.
 * @param {string} id @param {string} path @returns {Promise<unknown>}
 */
export async function postChosenCsv(id, path) {
  fieldError(id, "");
  const file = input(id).files?.[0];
  if (file === undefined) {
    fieldError(id, "Choose a CSV file first");
    return undefined;
  }
  try {
    return await api(path, { method: "POST", text: await file.text(), contentType: "text/csv" });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    fieldError(id, error.message);
    return undefined;
  }
}

/** @param {number | null | undefined} at @returns {string} */
export function time(at) {
  return at === null || at === undefined ? "—" : new Date(at).toLocaleString();
}

/** @param {number | null | undefined} usd @returns {string} */
export function money(usd) {
  return usd === null || usd === undefined ? "unknown" : `$${usd.toFixed(4)}`;
}

/**
 * The page's last path segment, decoded: the call SID on `/calls/:callSid`, the id on `/personas/:id`.
 * @returns {string}
 */
export function pathId() {
  return decodeURIComponent(location.pathname.split("/").pop() ?? "");
}

/** Marks the current page's link in the header. */
export function markNav() {
  for (const link of document.querySelectorAll(".top a[href]")) {
    const href = link.getAttribute("href") ?? "";
    if (href !== "/" && location.pathname.startsWith(href)) link.setAttribute("aria-current", "page");
  }
}
