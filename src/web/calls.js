/** `/calls`: past calls, filtered by script, lead, date and end reason. */
import { $, api, h, markNav, money, time } from "./app.js";

markNav();
/** @type {any[]} */
let leads = [];
/** @param {string} id */
const value = (id) => /** @type {HTMLInputElement} */ ($(id)).value;

async function load() {
  const query = new URLSearchParams({ limit: "500" });
  if (value("f-persona") !== "") query.set("persona", value("f-persona"));
  if (value("f-since") !== "") query.set("since", value("f-since"));
  const { calls } = await api(`/api/calls?${query}`);
  const lead = leads.find((l) => String(l.id) === value("f-lead"));
  const shown = calls.filter((/** @type {any} */ c) =>
    (lead === undefined || c.to === lead.phone || c.from === lead.phone) &&
    (value("f-reason") === "" || c.endReason === value("f-reason"))
  );
  const reasons = new Set(calls.map((/** @type {any} */ c) => c.endReason).filter(Boolean));
  const reasonSelect = $("f-reason");
  const keep = value("f-reason");
  reasonSelect.replaceChildren(
    h("option", { value: "" }, "Any"),
    ...[...reasons].map((r) => h("option", { value: r }, r)),
  );
  reasonSelect.value = keep;
  $("calls-status").textContent = `${shown.length} call${shown.length === 1 ? "" : "s"}`;
  $("calls").replaceChildren(...shown.map((/** @type {any} */ c) =>
    h(
      "tr",
      {},
      h("td", {}, time(c.createdAt)),
      h("td", {}, h("a", { href: `/calls/${encodeURIComponent(c.callSid)}` }, c.callSid)),
      h("td", {}, c.persona ?? "—"),
      h("td", {}, c.direction === "browser" ? "browser" : (c.to ?? "—")),
      h("td", {}, c.endReason === null ? (c.status ?? "in progress") : `ended: ${c.endReason}`),
      h("td", {}, money(c.costUsd)),
    )
  ));
  document.body.dataset.ready = "true";
}

async function start() {
  const [personaList, leadList] = await Promise.all([
    api("/api/personas"),
    api("/api/leads?limit=1000").catch(() => ({ leads: [] })),
  ]);
  leads = leadList.leads;
  $("f-persona").append(
    ...personaList.personas.map((/** @type {any} */ p) => h("option", { value: p.id }, p.id)),
  );
  $("f-lead").append(...leads.map((l) => h("option", { value: l.id }, `${l.name} (${l.phone})`)));
  $("filters").addEventListener("change", load);
  await load();
}
start();
