/** `/personas/:id`: what a call would send, and a softphone to talk to the persona. */
import { $, api, ApiError, fieldError, h, markNav, pathId } from "./app.js";
import { parseParams } from "./params.js";
import { wireRehearse } from "./rehearse.js";
import { startSoftphone } from "./softphone.js";
import { followTranscript } from "./transcript.js";
import { fillVoices } from "./voices.js";

/** @typedef {import("../api/types.ts").PersonaSummary} PersonaSummary */

markNav();
const id = pathId();
/** @type {Awaited<ReturnType<typeof startSoftphone>> | undefined} */
let phone;
/** Stops following the softphone call's transcript. @type {(() => void) | undefined} */
let unfollow;

/**
 * One tool offered to the model: its name, what it is for, and its arguments.
 * @param {import("../api/types.ts").ToolSpec} tool
 */
function toolItem(tool) {
  // The arguments' JSON schema: an object schema, read as such.
  const schema = /** @type {{ properties?: Record<string, { type?: unknown }>, required?: string[] }} */ (
    tool.parameters
  );
  const properties = Object.entries(schema.properties ?? {});
  const required = schema.required ?? [];
  return h(
    "li",
    {},
    h("code", {}, tool.name),
    ` — ${tool.description}`,
    properties.length === 0 ? h("div", { class: "hint" }, "No arguments.") : h(
      "div",
      { class: "hint" },
      "Arguments: ",
      properties.map(([name, schema]) =>
        `${name}${required.includes(name) ? "" : " (optional)"}${
          typeof schema?.type === "string" ? `: ${schema.type}` : ""
        }`
      ).join(", "),
    ),
  );
}

async function render() {
  fieldError("sample", "");
  const sample = parseParams(/** @type {HTMLTextAreaElement} */ ($("sample")).value);
  if (!sample.ok) return fieldError("sample", sample.error);
  const preview = /** @type {import("../api/types.ts").PersonaPreview} */ (await api(
    `/api/personas/${encodeURIComponent(id)}/preview?${new URLSearchParams(sample.value)}`,
  ));
  $("problems").replaceChildren(
    ...(preview.problems.length === 0
      ? [h("li", {}, "✔ None")]
      : preview.problems.map((p) => h("li", { class: "error" }, `⚠ ${p}`))),
  );
  $("instructions").textContent = preview.instructions ?? "(could not be rendered: see the problems)";
  $("opening").textContent = preview.openingMessages.map((m) => JSON.stringify(m, null, 2)).join("\n\n");
  $("tools-empty").hidden = preview.tools.length > 0;
  $("tools").replaceChildren(...preview.tools.map(toolItem));
}

$("render").addEventListener("click", render);
$("talk").addEventListener("click", async () => {
  fieldError("talk", "");
  $("talk").hidden = true;
  $("stop").hidden = false;
  try {
    phone = await startSoftphone(
      { persona: id, voice: /** @type {HTMLSelectElement} */ ($("voice")).value },
      {
        onStatus: (text) => $("softphone-status").textContent = text,
        onQueued: (ms) => $("queued").textContent = String(Math.round(ms)),
        onAssigned: (callSid) => {
          unfollow?.();
          $("talk-transcript-title").hidden = false;
          $("talk-record").hidden = true;
          unfollow = followTranscript(callSid, $("talk-transcript"), "You");
        },
        onEnded: (why) => {
          $("softphone-status").textContent = why;
          const callSid = phone?.callSid() ?? "";
          if (callSid !== "") {
            $("talk-record").hidden = false;
            $("talk-record").replaceChildren(
              h("a", { href: `/calls/${encodeURIComponent(callSid)}` }, "This call’s record"),
              " keeps the whole transcript, the latency and the cost.",
            );
          }
          $("talk").hidden = false;
          $("stop").hidden = true;
        },
      },
    );
    // For tests and the curious: the softphone's counters.
    Object.assign(window, { softphone: phone });
    $("stop").focus();
  } catch (error) {
    $("talk").hidden = false;
    $("stop").hidden = true;
    fieldError("talk", error instanceof Error ? `Cannot start: ${error.message}` : String(error));
  }
});
$("stop").addEventListener("click", () => phone?.hangUp());
wireRehearse(id, {
  button: $("rehearse"),
  status: $("rehearse-status"),
  error: $("rehearse-error"),
  runs: $("rehearse-runs"),
  summary: $("rehearse-summary"),
});

async function load() {
  let persona;
  try {
    persona = /** @type {PersonaSummary} */ (await api(`/api/personas/${encodeURIComponent(id)}`));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    $("persona").hidden = true;
    $("problem").hidden = false;
    if (error.status === 404) {
      $("title").textContent = "No such persona";
      const known = await api("/api/personas").then(
        (list) => /** @type {import("../api/types.ts").PersonaList} */ (list).personas,
        () => [],
      );
      $("problem").replaceChildren(
        h("p", {}, `There is no persona “${id}”: each persona is a file in the personas folder.`),
        known.length === 0 ? h("p", {}, "No personas are loaded.") : h(
          "p",
          {},
          "Known personas: ",
          ...known.flatMap((p, i) => [
            i === 0 ? "" : ", ",
            h("a", { href: `/personas/${encodeURIComponent(p.id)}` }, p.id),
          ]),
        ),
      );
    } else {
      $("title").textContent = "Could not load this persona";
      $("problem").replaceChildren(h("p", {}, error.message));
    }
    document.body.dataset.ready = "true";
    return;
  }
  $("title").textContent = persona.id;
  $("description").textContent = persona.description;
  $("engine").textContent = persona.engine;
  $("model").textContent = persona.model;
  $("own-voice").textContent = persona.voice;
  $("state").textContent = persona.valid ? "✔ valid" : `⚠ ${persona.problems.length} problem(s)`;
  await fillVoices(/** @type {HTMLSelectElement} */ ($("voice")), persona.engine, persona.voice);
  await render();
  document.body.dataset.ready = "true";
}
load();
