/**
 * `/campaigns`: create a campaign, watch it live, pause, resume or stop it, read and export its
 * results; the do-not-call list (add, remove, import a CSV).
 */
import { $, allLeads, api, ApiError, fieldError, h, input, markNav, refusalShown, time } from "./app.js";
import { startDoNotCall } from "./do_not_call.js";
import { outcomeStateWords, outcomeValueWords } from "./outcome.js";
import { statusDetailWords } from "./words.js";

/** @typedef {import("../api/types.ts").CampaignView} CampaignView */
/** @typedef {import("../api/types.ts").CampaignCall} CampaignCall */

markNav();
/** Refresh of the live view, ms. */
const REFRESH_MS = 2000;
/** The campaign shown in detail. @type {number | undefined} */
let shown;

/** Words for states and outcomes. */
const WORDS = /** @type {Record<string, string>} */ ({
  draft: "Draft",
  running: "Running",
  paused: "Paused",
  waiting: "Waiting for calling hours",
  finished: "Finished",
  stopped: "Stopped",
  completed: "Completed",
  "no-answer": "No answer",
  busy: "Busy",
  failed: "Failed",
  voicemail_left: "Voicemail left",
  do_not_call: "Asked not to be called",
  bad_number: "Skipped: bad number",
  duplicate: "Skipped: duplicate",
  stopped_lead: "Skipped: campaign stopped",
});
/** @param {string | null | undefined} key */
const word = (key) => key === null || key === undefined ? "—" : WORDS[key] ?? key;

function source() {
  return /** @type {HTMLInputElement} */ (document.querySelector('input[name="source"]:checked')).value;
}

function showSource() {
  const chosen = source();
  $("lead-ids").hidden = chosen !== "ids";
  input("tag").hidden = chosen !== "tag";
  input("csv-file").hidden = chosen !== "csv";
}

async function loadChoices() {
  const personas = /** @type {import("../api/types.ts").PersonaList} */ (await api("/api/personas"));
  $("persona").replaceChildren(
    ...personas.personas.map((p) =>
      h("option", { value: p.id }, p.description ? `${p.id} — ${p.description}` : p.id)
    ),
  );
  $("lead-ids").replaceChildren(
    ...(await allLeads()).map((l) => h("option", { value: l.id }, `${l.name} (${l.phone})`)),
  );
}

/**
 * The leads the form names (the selected ones, a tag, or a CSV file), or what is missing.
 * @returns {Promise<Record<string, unknown> | string>}
 */
async function formLeads() {
  const chosen = source();
  if (chosen === "ids") {
    const ids = [.../** @type {HTMLSelectElement} */ ($("lead-ids")).selectedOptions].map((o) =>
      Number(o.value)
    );
    return ids.length === 0 ? "Select at least one lead" : { ids };
  }
  if (chosen === "tag") return { tag: input("tag").value };
  const file = input("csv-file").files?.[0];
  return file === undefined ? "Choose a CSV file" : { csv: await file.text() };
}

/** @param {SubmitEvent} event */
async function create(event) {
  event.preventDefault();
  for (
    const id of [
      "name",
      "persona",
      "leads",
      "window.timezone",
      "window.start",
      "window.end",
      "window.days",
      "maxConcurrent",
      "callsPerSecond",
      "campaign-form",
    ]
  ) {
    fieldError(id, "");
  }
  const leads = await formLeads();
  if (typeof leads === "string") return fieldError("leads", leads);
  const days = [
    .../** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll('input[name="day"]:checked')),
  ]
    .map((box) => box.value);
  try {
    const campaign = /** @type {CampaignView} */ (await api("/api/campaigns", {
      method: "POST",
      body: {
        name: input("name").value,
        persona: /** @type {HTMLSelectElement} */ ($("persona")).value,
        leads,
        window: {
          timezone: input("timezone").value,
          days,
          start: input("start").value,
          end: input("end").value,
        },
        maxConcurrent: Number(input("maxConcurrent").value),
        callsPerSecond: Number(input("callsPerSecond").value),
        start: input("start-now").checked,
      },
    }));
    shown = campaign.id;
    await refresh();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const field = error.field?.startsWith("leads") ? "leads" : error.field;
    if (field !== undefined && document.getElementById(`${field}-error`) !== null) {
      fieldError(field, error.message);
    } else fieldError("campaign-form", error.message);
  }
}

/** @param {CampaignView} c */
function progress(c) {
  const done = c.counts.byState.done ?? 0;
  const skipped = c.counts.byState.skipped ?? 0;
  const dialing = c.counts.byState.dialing ?? 0;
  return `${done + skipped} of ${c.leads} settled, ${dialing} calling, ${c.counts.attempts} calls made`;
}

/**
 * Asks the API to `action` the campaign, then shows the campaigns as they are now; a refusal (e.g. a
 * campaign another tab started already) is shown under the list.
 * @param {CampaignView} c @param {string} action
 */
async function act(c, action) {
  fieldError("campaign-actions", "");
  await refusalShown("campaign-actions", api(`/api/campaigns/${c.id}/${action}`, { method: "POST" }));
  await refresh();
}

/** @param {CampaignView} c */
function actions(c) {
  /** @param {string} action @param {string} label @param {string} [kind] */
  const button = (action, label, kind = "secondary") =>
    h("button", {
      type: "button",
      class: kind,
      "aria-label": `${label} ${c.name}`,
      onclick: () => act(c, action),
    }, label);
  return [
    c.state === "draft" ? button("start", "Start", "") : null,
    c.state === "running" || c.state === "waiting" ? button("pause", "Pause") : null,
    c.state === "paused" ? button("resume", "Resume", "") : null,
    ["finished", "stopped"].includes(c.state) ? null : button("stop", "Stop", "danger"),
    h("button", {
      type: "button",
      class: "secondary",
      "aria-label": `Results of ${c.name}`,
      onclick: async () => {
        shown = c.id;
        await refresh();
        $("detail-title").focus();
      },
    }, "Results"),
  ].flatMap((node) => node === null ? [] : [node, " "]);
}

/**
 * A results row's outcome from post-call analysis, in words: its fields once analysed, else where
 * the analysis is; empty when the call has none.
 * @param {CampaignCall} row @returns {string}
 */
function outcomeWords(row) {
  const outcome = row.outcome;
  if (outcome === null || outcome === undefined) return "";
  return outcome.state === "done" && outcome.result !== null
    ? outcomeValueWords(outcome.result)
    : outcomeStateWords(outcome);
}

/** @param {CampaignView} c */
async function showDetail(c) {
  $("detail").hidden = false;
  $("detail-title").textContent = `${c.name}: ${word(c.state)}`;
  const outcomes = Object.entries(c.counts.byDisposition).filter(([, n]) => n > 0).map(([d, n]) =>
    `${word(d)} ${n}`
  );
  const skips = Object.entries(c.counts.skipped).filter(([, n]) => n > 0).map(([r, n]) =>
    `${word(r === "stopped" ? "stopped_lead" : r)} ${n}`
  );
  $("detail-counts").textContent = [progress(c), ...outcomes, ...skips].join(" · ");
  $("in-progress").replaceChildren(
    ...(c.inProgress.length === 0 ? [h("li", {}, "No call in progress.")] : c.inProgress.map((call) =>
      h(
        "li",
        {},
        call.callSid === null
          ? "Dialling…"
          : h("a", { href: `/calls/${encodeURIComponent(call.callSid)}` }, call.phone ?? call.callSid),
        ` (attempt ${call.attempt})`,
      )
    )),
  );
  $("export").setAttribute("href", `/api/campaigns/${c.id}/results.csv`);
  const rows = /** @type {{ calls: CampaignCall[] }} */ (await api(`/api/campaigns/${c.id}/calls`)).calls;
  $("results").replaceChildren(
    ...(rows.length === 0 ? [h("tr", {}, h("td", { colspan: 5 }, "No calls yet."))] : rows.map((row) =>
      h(
        "tr",
        {},
        h("td", {}, row.name),
        h(
          "td",
          {},
          row.callSid === null
            ? row.phone
            : h("a", { href: `/calls/${encodeURIComponent(row.callSid)}` }, row.phone),
        ),
        h("td", {}, row.attempt === 0 ? "—" : String(row.attempt)),
        h(
          "td",
          {},
          row.skipped
            ? word(row.skipped === "stopped" ? "stopped_lead" : row.skipped)
            : row.disposition
            ? word(row.disposition) + inBrackets(statusDetailWords(row.detail ?? ""))
            : "In progress",
        ),
        h("td", { class: "outcome" }, outcomeWords(row)),
      )
    )),
  );
}

/**
 * ` (words)` to follow an attempt's result, or "" when there are none.
 * @param {string} words @returns {string}
 */
function inBrackets(words) {
  return words === "" ? "" : ` (${words})`;
}

async function refresh() {
  const list = /** @type {import("../api/types.ts").CampaignList} */ (await api("/api/campaigns"));
  $("campaigns").replaceChildren(
    ...(list.campaigns.length === 0
      ? [h("tr", {}, h("td", { colspan: 5 }, "No campaigns yet: create one above."))]
      : list.campaigns.map((c) =>
        h(
          "tr",
          { "data-campaign": c.id },
          h("td", {}, c.name),
          h("td", { class: "state" }, word(c.state)),
          h("td", {}, progress(c)),
          h("td", {}, c.state === "waiting" ? time(c.nextTryAt) : "—"),
          h("td", {}, ...actions(c)),
        )
      )),
  );
  const detail = list.campaigns.find((c) => c.id === shown);
  if (detail !== undefined) await showDetail(detail);
}

for (const radio of document.querySelectorAll('input[name="source"]')) {
  radio.addEventListener("change", showSource);
}
$("campaign-form").addEventListener("submit", (/** @type {SubmitEvent} */ event) => void create(event));
showSource();
await Promise.all([loadChoices(), refresh(), startDoNotCall()]);
setInterval(() => void refresh().catch(() => {}), REFRESH_MS);
document.body.dataset.ready = "true";
