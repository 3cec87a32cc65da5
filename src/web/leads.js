/** `/leads`: add, edit, delete and import leads; each lead shows its calls. */
import { $, api, ApiError, fieldError, h, markNav, time } from "./app.js";
import { formatParams, parseParams } from "./params.js";

/** @typedef {import("../api/types.ts").Lead} Lead */

markNav();
const FORM_FIELDS = ["name", "phone", "company", "notes", "fields"];
/** @type {Lead[]} */
let leads = [];

/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ ($(id));

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
  const full = /** @type {import("../api/types.ts").LeadWithCalls} */ (await api(`/api/leads/${lead.id}`));
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
            await api(`/api/leads/${lead.id}`, { method: "DELETE" });
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
  fieldError("csv-file", "");
  const file = input("csv-file").files?.[0];
  if (file === undefined) return fieldError("csv-file", "Choose a CSV file first");
  let result;
  try {
    result = /** @type {import("../api/types.ts").LeadImport} */ (await api("/api/leads/import", {
      method: "POST",
      text: await file.text(),
      contentType: "text/csv",
    }));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return fieldError("csv-file", error.message);
  }
  $("import-result").replaceChildren(
    h(
      "p",
      { class: "ok" },
      `✔ Imported ${result.imported.length} lead${result.imported.length === 1 ? "" : "s"}.`,
    ),
    result.errors.length === 0 ? null : h(
      "div",
      {},
      h(
        "p",
        { class: "error" },
        `⚠ ${result.errors.length} row${result.errors.length === 1 ? "" : "s"} not imported:`,
      ),
      h(
        "ul",
        { class: "import-errors" },
        ...result.errors.map((e) => h("li", {}, `Line ${e.line}, ${e.field}: ${e.message}`)),
      ),
    ),
  );
  await load();
});

async function load() {
  leads = /** @type {import("../api/types.ts").LeadList} */ (await api("/api/leads")).leads;
  renderLeads();
  document.body.dataset.ready = "true";
}
load();
