/** `/personas/:id`: what a call would send, and a softphone to talk to the persona. */
import { $, api, ApiError, fieldError, h, markNav, pathId } from "./app.js";
import { parseParams } from "./params.js";
import { startSoftphone } from "./softphone.js";
import { fillVoices } from "./voices.js";

markNav();
const id = pathId();
/** @type {Awaited<ReturnType<typeof startSoftphone>> | undefined} */
let phone;

async function render() {
  fieldError("sample", "");
  const sample = parseParams(/** @type {HTMLTextAreaElement} */ ($("sample")).value);
  if (!sample.ok) return fieldError("sample", sample.error);
  const preview = await api(
    `/api/personas/${encodeURIComponent(id)}/preview?${new URLSearchParams(sample.value)}`,
  );
  $("problems").replaceChildren(
    ...(preview.problems.length === 0
      ? [h("li", {}, "✔ None")]
      : preview.problems.map((/** @type {string} */ p) => h("li", { class: "error" }, `⚠ ${p}`))),
  );
  $("instructions").textContent = preview.instructions ?? "(could not be rendered: see the problems)";
  $("opening").textContent = preview.openingMessages.map((/** @type {unknown} */ m) =>
    JSON.stringify(m, null, 2)
  ).join("\n\n");
  $("tools").textContent = preview.tools.length === 0 ? "(none)" : JSON.stringify(preview.tools, null, 2);
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
        onEnded: (why) => {
          $("softphone-status").textContent = why;
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

async function load() {
  let persona;
  try {
    persona = await api(`/api/personas/${encodeURIComponent(id)}`);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    $("title").textContent = error.message;
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
