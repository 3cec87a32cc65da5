/** `/calls/:callSid`: a call's record, live while it runs (fed by the SSE feed, which reconnects). */
import { $, api, ApiError, fieldError, h, markNav, money, pathId, time } from "./app.js";

markNav();
const callSid = pathId();
$("sid").textContent = callSid;
/** @type {any} */
let record;
/** @type {EventSource | undefined} */
let feed;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let refreshTimer;
/** The persona's own voice, for calls that chose none. @type {string | undefined} */
let ownVoice;

const STATUS_WORDS = /** @type {Record<string, string>} */ ({
  queued: "queued",
  initiated: "queued",
  ringing: "ringing",
  answered: "answered",
  "in-progress": "answered",
  "machine-detected": "answered by a machine",
});

function statusText() {
  if (record.endedAt !== null) return `ended: ${record.endReason ?? "unknown"}`;
  if (["completed", "busy", "no-answer", "failed", "canceled"].includes(record.status)) {
    return `ended: ${record.status}`;
  }
  if (record.startedAt !== null) return "in progress";
  return STATUS_WORDS[record.status] ?? "queued";
}

function ended() {
  return statusText().startsWith("ended");
}

/** @param {any} line */
function transcriptItem(line) {
  const cut = line.interruptedAtMs !== null && line.interruptedAtMs !== undefined;
  return h(
    "li",
    { class: line.speaker },
    h("span", { class: "who" }, line.speaker === "agent" ? "Agent:" : "Caller:"),
    line.text,
    cut ? h("em", {}, ` [interrupted after ${Math.round(line.interruptedAtMs)} ms]`) : null,
  );
}

/** @param {any} turn */
function turnItem(turn) {
  const heard = turn.firstAudioHeardMs;
  return h(
    "li",
    {},
    heard === null || heard === undefined
      ? `${Math.round(turn.firstAudioSentMs)} ms (sent; playback not confirmed)`
      : `${Math.round(heard)} ms heard (${Math.round(turn.firstAudioSentMs)} ms sent)`,
  );
}

/** @param {any} call */
function toolItem(call) {
  return h(
    "li",
    {},
    `${time(call.at)}: ${call.name}(${call.arguments}) → ${call.status}, ${call.resultBytes} B in ${
      Math.round(call.durationMs)
    } ms`,
  );
}

function render() {
  $("status").textContent = statusText();
  $("persona").textContent = record.persona ?? "—";
  $("voice").textContent = record.parameters.voice ??
    (ownVoice === undefined ? "script’s own" : `${ownVoice} (script’s own)`);
  $("number").textContent = record.direction === "browser" ? "browser" : (record.to ?? "—");
  $("cost").textContent = money(record.costUsd);
  $("latency").textContent = record.latency === null || record.latency === undefined
    ? "—"
    : `${Math.round(record.latency.p50Ms)} / ${Math.round(record.latency.p95Ms)} ms`;
  $("transcript").replaceChildren(...(record.transcript ?? []).map(transcriptItem));
  $("turns").replaceChildren(...(record.turns ?? []).map(turnItem));
  const tools = record.toolCalls ?? [];
  $("tools").hidden = tools.length > 0;
  $("tool-calls").replaceChildren(...tools.map(toolItem));
  $("statuses").replaceChildren(
    ...(record.statuses ?? []).map((/** @type {any} */ s) =>
      h("li", {}, `${time(s.at)}: ${s.status} ${s.detail}`)
    ),
  );
  $("hangup").hidden = ended();
}

/** Reloads the whole record (for figures the events do not carry, such as cost). */
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    record = await api(`/api/calls/${encodeURIComponent(callSid)}`);
    render();
  }, 300);
}

function follow() {
  feed = new EventSource(`/api/calls/${encodeURIComponent(callSid)}/events`);
  feed.addEventListener("open", () => $("feed").textContent = "live");
  feed.addEventListener("error", () => {
    if (feed?.readyState !== EventSource.CLOSED) $("feed").textContent = "connection lost: reconnecting…";
  });
  feed.addEventListener("snapshot", (event) => {
    record = JSON.parse(/** @type {MessageEvent} */ (event).data);
    render();
  });
  const on = (/** @type {string} */ type, /** @type {(e: any) => void} */ apply) =>
    feed?.addEventListener(type, (event) => {
      apply(JSON.parse(/** @type {MessageEvent} */ (event).data));
      render();
    });
  on("call.status", (e) => record.status = e.status);
  on("call.started", (e) => record.startedAt = e.at);
  on("transcript", (e) => record.transcript.push({ ...e, interruptedAtMs: e.interruptedAtMs ?? null }));
  on("turn.latency", (e) => {
    record.turns.push(e);
    refreshSoon();
  });
  on("tool.called", (e) => (record.toolCalls ??= []).push(e));
  on("usage", () => refreshSoon());
  // GPT-Live is billed by the minute: its cost grows with each minutes report.
  on("usage.minutes", () => refreshSoon());
  on("call.ended", (e) => {
    record.endedAt = e.at;
    record.endReason = e.reason;
    feed?.close();
    $("feed").textContent = "";
    refreshSoon();
  });
}

$("hangup").addEventListener("click", async () => {
  fieldError("hangup", "");
  try {
    await api(`/api/calls/${encodeURIComponent(callSid)}/hangup`, { method: "POST" });
    $("status").textContent = "hanging up…";
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    fieldError("hangup", error.message);
  }
});

async function load() {
  try {
    record = await api(`/api/calls/${encodeURIComponent(callSid)}`);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    $("status").textContent = error.message;
    return;
  }
  render();
  if (!ended()) follow();
  if (record.parameters.voice === undefined && record.persona !== null) {
    ownVoice = (await api(`/api/personas/${encodeURIComponent(record.persona)}`).catch(() => ({}))).voice;
    render();
  }
  document.body.dataset.ready = "true";
}
load();
