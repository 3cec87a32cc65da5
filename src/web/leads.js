/** `/leads`: add, edit, delete and import leads, a page at a time; each lead shows its calls. */
import { $, api, ApiError, fieldError, h, input, markNav, postChosenCsv, refusalShown, time } from "./app.js";
import { formatParams, parseParams } from "./params.js";
import { plural } from "./words.js";

/** @typedef {import("../api/types.ts").Lead} Lead */

markNav();
const FORM_FIELDS = ["name", "phone", "company", "notes", "fields"];
/** Leads per page (the API allows up to 1000). */
const PAGE_SIZE = 100;
/** @type {Lead[]} */
let leads = [];
/** Where each page shown so far starts (`""` is the first); the last is the current page. */
const cursors = [""];
/** The cursor of the page after the current one; null on the last page. @type {string | null} */
let nextCursor = null;

function resetForm() {
  for (const id of [...FORM_FIELDS, "lead-id"]) input(id).value = "";
  $("lead-form-title").textContent = "Add a lead";
  $("save").textContent = "Add lead";
  $("cancel").hidden = true;
}

/** @param {Lead} lead */
function edit(lead) {
  input("lead-id").value = String(lead.id);
  for (const id of /** @type {const} */ (["name", "phone", "company", "notes"])) input(id).value = lead[id];
  input("fields").value = formatParams(lead.fields);
  $("lead-form-title").textContent = `Edit ${lead.name}`;
  $("save").textContent = "Save changes";
  $("cancel").hidden = false;
  input("name").focus();
}

/** @param {Lead} lead */
async function showCalls(lead) {
  fieldError("lead-actions", "");
  const full = /** @type {import("../api/types.ts").LeadWithCalls | undefined} */ (
    await refusalShown("lead-actions", api(`/api/leads/${lead.id}`))
  );
  if (full === undefined) return;
  $("lead-calls").hidden = false;
  $("lead-calls-title").textContent = `Calls with ${lead.name}`;
  $("lead-calls-list").replaceChildren(
    ...(full.calls.length === 0 ? [h("li", {}, "No calls yet.")] : full.calls.map((c) =>
      h(
        "li",
        {},
        h("a", { href: `/calls/${encodeURIComponent(c.callSid)}` }, time(c.createdAt)),
        ` ${c.persona ?? ""} — ${c.endReason ?? c.status ?? "in progress"}`,
      )
    )),
  );
  $("lead-calls-title").focus?.();
}

function renderLeads() {
  $("leads").replaceChildren(...leads.map((lead) =>
    h(
      "tr",
      {},
      h("td", {}, lead.name),
      h("td", {}, lead.phone),
      h("td", {}, lead.company),
      h("td", {}, Object.entries(lead.fields).map(([k, v]) => `${k}=${v}`).join(", ")),
      h(
        "td",
        {},
        h("a", { href: `/calling?lead=${lead.id}` }, "Call"),
        " ",
        h("button", { type: "button", class: "secondary", onclick: () => showCalls(lead) }, "Calls"),
        " ",
        h("button", { type: "button", class: "secondary", onclick: () => edit(lead) }, "Edit"),
        " ",
        h("button", {
          type: "button",
          class: "danger",
          "aria-label": `Delete ${lead.name}`,
          onclick: async () => {
            if (!confirm(`Delete ${lead.name}?`)) return;
            fieldError("lead-actions", "");
            await refusalShown("lead-actions", api(`/api/leads/${lead.id}`, { method: "DELETE" }));
            await load();
          },
        }, "Delete"),
      ),
    )
  ));
}

$("lead-form").addEventListener("submit", async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  for (const id of [...FORM_FIELDS, "lead-form"]) fieldError(id, "");
  const fields = parseParams(input("fields").value);
  if (!fields.ok) return fieldError("fields", fields.error);
  const body = {
    name: input("name").value,
    phone: input("phone").value.trim(),
    company: input("company").value,
    notes: input("notes").value,
    fields: fields.value,
  };
  const id = input("lead-id").value;
  try {
    await api(id === "" ? "/api/leads" : `/api/leads/${id}`, { method: id === "" ? "POST" : "PATCH", body });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const field = FORM_FIELDS.includes(error.field ?? "")
      ? /** @type {string} */ (error.field)
      : error.field !== undefined
      ? "fields"
      : "lead-form";
    fieldError(field, error.message);
    document.getElementById(field)?.focus();
    return;
  }
  resetForm();
  await load();
});
$("cancel").addEventListener("click", resetForm);

$("import-form").addEventListener("submit", async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const onDuplicate = /** @type {HTMLSelectElement} */ ($("on-duplicate")).value;
  const result = /** @type {import("../api/types.ts").LeadImport | undefined} */ (
    await postChosenCsv("csv-file", `/api/leads/import?onDuplicate=${encodeURIComponent(onDuplicate)}`)
  );
  if (result === undefined) return;
  $("import-result").replaceChildren(...importSummary(result).filter((part) => part !== null));
  await load();
});

/**
 * What an import did: added, updated, duplicates by line, errors by line (the API lists at most
 * `limits.maxReported` of each; `counts` has the totals).
 * @param {import("../api/types.ts").LeadImport} result
 */
function importSummary(result) {
  const { counts, limits } = result;
  const shown = (/** @type {unknown[]} */ list, /** @type {number} */ total) =>
    list.length < total ? ` (the first ${list.length} of ${total} are listed)` : "";
  return [
    h(
      "p",
      { class: "ok" },
      `✔ Imported ${plural(counts.imported, "lead")}.` +
        (counts.updated > 0 ? ` Updated ${plural(counts.updated, "lead")}.` : "") +
        (counts.skipped > 0 ? ` Skipped ${plural(counts.skipped, "duplicate row")}.` : ""),
    ),
    result.duplicates.length === 0 ? null : h(
      "div",
      {},
      h(
        "p",
        {},
        `${plural(counts.duplicates, "row")} repeat a phone number${
          shown(result.duplicates, counts.duplicates)
        }:`,
      ),
      h(
        "ul",
        { class: "import-duplicates" },
        ...result.duplicates.map((d) =>
          h(
            "li",
            {},
            `Line ${d.line}, ${d.phone}: ${
              d.sameAsLine !== undefined
                ? `same number as line ${d.sameAsLine}`
                : `already lead #${d.existingLead}`
            } — ${d.action}`,
          )
        ),
      ),
    ),
    result.errors.length === 0 ? null : h(
      "div",
      {},
      h(
        "p",
        { class: "error" },
        `⚠ ${plural(counts.errors, "row")} not imported${shown(result.errors, counts.errors)}:`,
      ),
      h(
        "ul",
        { class: "import-errors" },
        ...result.errors.map((e) => h("li", {}, `Line ${e.line}, ${e.field}: ${e.message}`)),
      ),
    ),
    h("p", { class: "hint" }, `At most ${limits.maxRows} rows per file.`),
  ];
}

$("prev-page").addEventListener("click", async () => {
  if (cursors.length > 1) cursors.pop();
  await load();
});
$("next-page").addEventListener("click", async () => {
  if (nextCursor === null) return;
  cursors.push(nextCursor);
  await load();
});

/** Shows the current page of leads (back one page when it has emptied). */
async function load() {
  const after = cursors[cursors.length - 1];
  const page = /** @type {import("../api/types.ts").LeadList} */ (await api(
    `/api/leads?limit=${PAGE_SIZE}${after === "" ? "" : `&after=${encodeURIComponent(after ?? "")}`}`,
  ));
  if (page.leads.length === 0 && cursors.length > 1) {
    cursors.pop();
    return await load();
  }
  leads = page.leads;
  nextCursor = page.next;
  renderLeads();
  const first = (cursors.length - 1) * PAGE_SIZE;
  $("page-info").textContent = page.total === 0
    ? "No leads yet: add one above or import a CSV file."
    : `Leads ${first + 1}–${first + leads.length} of ${page.total}`;
  /** @type {HTMLButtonElement} */ ($("prev-page")).disabled = cursors.length === 1;
  /** @type {HTMLButtonElement} */ ($("next-page")).disabled = nextCursor === null;
  document.body.dataset.ready = "true";
}
load();
