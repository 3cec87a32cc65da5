/** `/calling`: pick a lead or a number, a script and a voice, and start the call. */
import { $, api, ApiError, fieldError, h, markNav, refusalShown } from "./app.js";
import { formatParams, parseParams } from "./params.js";
import { fillVoices, voiceForGender } from "./voices.js";

/** @typedef {import("../api/types.ts").LeadList} LeadList */
/** @typedef {import("../api/types.ts").PersonaList} PersonaList */

markNav();
/** @type {LeadList["leads"]} */
let leads = [];
/** @type {PersonaList["personas"]} */
let personas = [];

const personaSelect = /** @type {HTMLSelectElement} */ ($("persona"));
const voiceSelect = /** @type {HTMLSelectElement} */ ($("voice"));
const leadSelect = /** @type {HTMLSelectElement} */ ($("lead"));

function currentPersona() {
  return personas.find((p) => p.id === personaSelect.value);
}

async function showPersona() {
  const persona = currentPersona();
  if (persona === undefined) return;
  const about = persona.description || "No description";
  $("persona-description").textContent = `${about} · engine: ${persona.engine}, own voice: ${persona.voice}`;
  await fillVoices(voiceSelect, persona.engine, persona.voice);
  syncGender();
}

async function syncGender() {
  const gender =
    /** @type {HTMLInputElement} */ (document.querySelector('input[name="gender"]:checked')).value;
  const persona = currentPersona();
  if (persona === undefined) return;
  voiceSelect.value = gender === "own" ? "" : await voiceForGender(persona.engine, gender);
}

leadSelect.addEventListener("change", () => {
  const lead = leads.find((l) => String(l.id) === leadSelect.value);
  /** @type {HTMLInputElement} */ ($("to")).value = lead?.phone ?? "";
  const params = lead === undefined
    ? {}
    : { lead: lead.name, ...(lead.company ? { company: lead.company } : {}), ...lead.fields };
  /** @type {HTMLTextAreaElement} */ ($("parameters")).value = formatParams(params);
});
personaSelect.addEventListener("change", showPersona);
for (const radio of document.querySelectorAll('input[name="gender"]')) {
  radio.addEventListener("change", syncGender);
}

$("call-form").addEventListener("submit", async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  for (const id of ["to", "persona", "voice", "parameters", "machineDetection", "form"]) fieldError(id, "");
  const params = parseParams(/** @type {HTMLTextAreaElement} */ ($("parameters")).value);
  if (!params.ok) return fieldError("parameters", params.error);
  const to = /** @type {HTMLInputElement} */ ($("to")).value.trim();
  if (to === "") {
    fieldError("to", "Pick a lead or type the number to call");
    return $("to").focus();
  }
  const body = {
    to,
    persona: personaSelect.value,
    ...(voiceSelect.value === "" ? {} : { voice: voiceSelect.value }),
    ...(Object.keys(params.value).length === 0 ? {} : { parameters: params.value }),
    ...(/** @type {HTMLInputElement} */ ($("amd")).checked ? { machineDetection: "DetectMessageEnd" } : {}),
  };
  const button = /** @type {HTMLButtonElement} */ ($("start"));
  button.disabled = true;
  try {
    const placed = /** @type {import("../api/types.ts").PlacedCall} */ (
      await api("/api/calls", { method: "POST", body })
    );
    location.assign(`/calls/${encodeURIComponent(placed.callSid)}`);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const field = error.field !== undefined && document.getElementById(`${error.field}-error`)
      ? error.field
      : "form";
    fieldError(field, error.message);
    document.getElementById(field === "form" ? "start" : field)?.focus();
  } finally {
    button.disabled = false;
  }
});

async function load() {
  const wanted = new URLSearchParams(location.search);
  /** @type {LeadList} */
  const noLeads = { leads: [], next: null, total: 0 };
  /** @type {PersonaList} */
  const noPersonas = { personas: [] };
  const [leadList, personaList] = await Promise.all([
    refusalShown("lead", api("/api/leads?limit=1000"), "Could not load the leads").then((list) =>
      /** @type {LeadList | undefined} */ (list) ?? noLeads
    ),
    refusalShown("persona", api("/api/personas"), "Could not load the scripts").then((list) =>
      /** @type {PersonaList | undefined} */ (list) ?? noPersonas
    ),
  ]);
  leads = leadList.leads;
  personas = personaList.personas;
  // The lead a link names (the leads page's Call) may sort past the first 1000: asked for by its id.
  const leadId = wanted.get("lead") ?? "";
  if (leadId !== "" && !leads.some((l) => String(l.id) === leadId)) {
    const lead = /** @type {LeadList["leads"][number] | undefined} */ (
      await refusalShown("lead", api(`/api/leads/${encodeURIComponent(leadId)}`), "Could not load the lead")
    );
    if (lead !== undefined) leads = [...leads, lead];
  }
  leadSelect.append(
    ...leads.map((l) =>
      h("option", { value: l.id }, `${l.name} (${l.phone})${l.company ? ` — ${l.company}` : ""}`)
    ),
  );
  personaSelect.replaceChildren(...personas.map((p) => h("option", { value: p.id }, p.id)));
  if (wanted.has("persona")) personaSelect.value = wanted.get("persona") ?? "";
  if (leadId !== "" && leads.some((l) => String(l.id) === leadId)) {
    leadSelect.value = leadId;
    leadSelect.dispatchEvent(new Event("change"));
  }
  await showPersona();
  document.body.dataset.ready = "true";
}
load();
