/** `/calls`: past calls, filtered by script, lead, date and how they ended. */
import { $, allLeads, api, h, markNav, money, time } from "./app.js";
import { callStateWords, endWords } from "./words.js";
import { fieldWords, outcomeStateWords, outcomeValueWords } from "./outcome.js";

/** @typedef {import("../api/types.ts").LeadList} LeadList */

markNav();
/** @type {LeadList["leads"]} */
let leads = [];
/** @param {string} id */
const value = (id) => /** @type {HTMLInputElement} */ ($(id)).value;

/** A table cell that names its column, for the stacked layout of narrow screens. */
const cell = (/** @type {string} */ label, /** @type {(Node | string)[]} */ ...content) =>
  h("td", { "data-label": label }, ...content);

async function load() {
  const query = new URLSearchParams({ limit: "500" });
  if (value("f-persona") !== "") query.set("persona", value("f-persona"));
  if (value("f-since") !== "") query.set("since", value("f-since"));
  const { calls } = /** @type {import("../api/types.ts").CallList} */ (await api(`/api/calls?${query}`));
  $("export").setAttribute("href", `/api/calls.csv?${query}`);
  const lead = leads.find((l) => String(l.id) === value("f-lead"));
  const shown = calls.filter((c) =>
    (lead === undefined || c.to === lead.phone || c.from === lead.phone) &&
    (value("f-reason") === "" || c.endReason === value("f-reason"))
  );
  const reasons = new Set(calls.map((c) => c.endReason).filter(Boolean));
  const reasonSelect = /** @type {HTMLSelectElement} */ ($("f-reason"));
  const keep = value("f-reason");
  reasonSelect.replaceChildren(
    h("option", { value: "" }, "Any"),
    ...[...reasons].map((r) => h("option", { value: r }, endWords(r))),
  );
  reasonSelect.value = keep;
  const filtered = [.../** @type {HTMLFormElement} */ ($("filters")).elements].some((e) =>
    /** @type {HTMLInputElement} */ (e).value !== ""
  );
  const none = calls.length === 0 && !filtered;
  $("calls-empty").hidden = !none;
  $("calls-table").hidden = shown.length === 0;
  $("calls-status").textContent = none
    ? ""
    : shown.length === 0
    ? "No calls match these filters: choose “Any” to see more."
    : `${shown.length} call${shown.length === 1 ? "" : "s"}`;
  showTable(shown);
  document.body.dataset.ready = "true";
}

/**
 * The calls' table: a row per call, and a column per outcome field of the calls shown (the scripts'
 * analysis schemas).
 * @param {import("../api/types.ts").CallList["calls"]} shown
 */
function showTable(shown) {
  /** @type {string[]} */
  const fields = [];
  for (const c of shown) {
    for (const name of Object.keys(c.outcome?.result ?? {})) if (!fields.includes(name)) fields.push(name);
  }
  $("calls-head").replaceChildren(
    ...["When", "Call", "Script", "Number", "Status", "Cost"].map((name) => h("th", { scope: "col" }, name)),
    ...fields.map((name) => h("th", { scope: "col", class: "outcome" }, fieldWords(name))),
  );
  $("calls").replaceChildren(...shown.map((c) =>
    h(
      "tr",
      {},
      cell("When", time(c.createdAt)),
      cell("Call", h("a", { href: `/calls/${encodeURIComponent(c.callSid)}`, class: "sid" }, c.callSid)),
      cell("Script", c.persona ?? "—"),
      cell("Number", c.direction === "browser" ? "this browser" : (c.to || "—")),
      cell("Status", callStateWords(c)),
      cell("Cost", money(c.costUsd)),
      ...fields.map((name) =>
        cell(
          fieldWords(name),
          c.outcome?.result
            ? (Object.hasOwn(c.outcome.result, name) ? outcomeValueWords(c.outcome.result[name]) : "")
            : outcomeStateWords(c.outcome),
        )
      ),
    )
  ));
}

async function start() {
  const [personaList, allOfThem] = await Promise.all([
    /** @type {Promise<import("../api/types.ts").PersonaList>} */ (api("/api/personas")),
    allLeads().catch(() => []),
  ]);
  leads = allOfThem;
  $("f-persona").append(
    ...personaList.personas.map((p) => h("option", { value: p.id }, p.id)),
  );
  $("f-lead").append(...leads.map((l) => h("option", { value: l.id }, `${l.name} (${l.phone})`)));
  $("filters").addEventListener("change", load);
  await load();
}
start();
