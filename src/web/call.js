/** `/calls/:callSid`: a call's record, live while it runs (fed by the SSE feed, which reconnects). */
import { $, api, ApiError, fieldError, h, markNav, money, pathId, refusalShown, time } from "./app.js";
import { transcriptItem } from "./transcript.js";
import { outcomeList, outcomeStateWords } from "./outcome.js";
import { showWebhookDeliveries } from "./webhook_deliveries.js";
import { placeLines, showRecording } from "./recording_player.js";
import { callStateWords, durationWords, isOver, statusDetailWords, statusWords } from "./words.js";

/** @typedef {import("../api/types.ts").CallRecord} CallRecord */
/** @typedef {import("../api/types.ts").CallFeedEvents} CallFeedEvents */
/** @typedef {import("../api/types.ts").PersonaSummary} PersonaSummary */

markNav();
const callSid = pathId();
$("sid").textContent = callSid;
/** @type {CallRecord} */
let record;
/** @type {EventSource | undefined} */
let feed;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let refreshTimer;
/** The persona's own voice, for calls that chose none. @type {string | undefined} */
let ownVoice;

/** Ticks the duration of a call in progress. @type {ReturnType<typeof setInterval> | undefined} */
let clock;

function ended() {
  return isOver(record);
}

/** How long the call has lasted: from its start (or first event) to its end, or to now. */
function duration() {
  if (record.durationMs !== null && record.durationMs !== undefined) return record.durationMs;
  const from = record.startedAt ?? null;
  if (from === null) return null;
  return (record.endedAt ?? Date.now()) - from;
}

/** @param {import("../api/types.ts").TurnLatency} turn */
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

/** @param {import("../api/types.ts").ToolCallRecord} call */
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
  $("status").textContent = callStateWords(record);
  $("lead").textContent = record.parameters.lead ?? "—";
  $("started").textContent = time(record.startedAt ?? record.createdAt);
  $("duration").textContent = record.startedAt === null && ended()
    ? "never connected"
    : durationWords(duration());
  $("persona").textContent = record.persona ?? "—";
  $("voice").textContent = record.parameters.voice ??
    (ownVoice === undefined ? "script’s own" : `${ownVoice} (script’s own)`);
  $("number").textContent = record.direction === "browser" ? "this browser" : (record.to || "—");
  $("cost-label").textContent = ended() ? "Cost" : "Cost so far";
  $("cost").textContent = money(record.costUsd);
  $("latency").textContent = record.latency === null || record.latency === undefined
    ? "—"
    : `${Math.round(record.latency.p50Ms)} / ${Math.round(record.latency.p95Ms)} ms`;
  renderOutcome();
  const transcript = record.transcript ?? [];
  $("transcript-empty").hidden = transcript.length > 0;
  $("transcript-empty").textContent = ended()
    ? "Nothing was said on this call."
    : "Nothing has been said yet.";
  const items = transcript.map((line) => transcriptItem(line));
  placeLines(items, transcript, record.startedAt ?? null);
  $("transcript").replaceChildren(...items);
  const turns = record.turns ?? [];
  $("turns-empty").hidden = turns.length > 0;
  $("turns-empty").textContent = ended()
    ? "The agent did not answer on this call."
    : "No answers from the agent yet.";
  $("turns").replaceChildren(...turns.map(turnItem));
  const tools = record.toolCalls ?? [];
  $("tools").hidden = tools.length > 0;
  $("tool-calls").replaceChildren(...tools.map(toolItem));
  const statuses = record.statuses ?? [];
  $("statuses-empty").hidden = statuses.length > 0;
  if (record.direction !== "browser") $("statuses-empty").textContent = "Nothing from Twilio yet.";
  $("statuses").replaceChildren(
    ...statuses.map((s) => {
      const detail = statusDetailWords(s.detail);
      return h("li", {}, `${time(s.at)}: ${statusWords(s.status)}${detail === "" ? "" : ` (${detail})`}`);
    }),
  );
  showRecording(record.recording, {
    section: $("recording"),
    player: /** @type {HTMLAudioElement} */ ($("player")),
    state: $("recording-state"),
    list: $("transcript"),
  });
  // The recording's file is finished just after the call ends (off the event loop): look again.
  if (ended() && record.recording?.state === "recording") refreshSoon();
  $("hangup").hidden = ended();
  if (ended()) clearInterval(clock);
  else if (clock === undefined && record.startedAt !== null) {
    clock = setInterval(() => $("duration").textContent = durationWords(duration()), 1000);
  }
}

/** The post-call analysis: where it is, and its fields once done. */
function renderOutcome() {
  const outcome = record.outcome ?? null;
  $("outcome-state").textContent = outcome === null
    ? "This script declares no analysis."
    : outcome.state === "done"
    ? `Filled by ${outcome.model} after the call.`
    : outcomeStateWords(outcome);
  $("outcome").hidden = outcome?.result === null || outcome?.result === undefined;
  $("outcome").replaceChildren(...(outcome?.result ? outcomeList(outcome.result) : []));
  // The analysis runs after the call: look again until it settles.
  if (ended() && analysing(record)) {
    clearTimeout(outcomeTimer);
    outcomeTimer = setTimeout(() => void reload(), 2000);
  }
}

/**
 * True while the call's post-call analysis is still to come (pending or running).
 * @param {CallRecord} call
 */
function analysing(call) {
  const state = call.outcome?.state;
  return state === "pending" || state === "running";
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let outcomeTimer;

/** Reloads the whole record (for figures the events do not carry, such as cost). */
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void reload(), 300);
}

/**
 * Reloads the record and shows it. A failed load says why under the status and tries again 2 s later
 * (render() schedules the next look itself once one succeeds); a 401 sends the browser to sign in.
 */
async function reload() {
  try {
    record = /** @type {CallRecord} */ (await api(`/api/calls/${encodeURIComponent(callSid)}`));
  } catch (error) {
    fieldError("refresh", `Could not refresh this call: ${error instanceof Error ? error.message : error}`);
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => void reload(), 2000);
    return;
  }
  fieldError("refresh", "");
  render();
}

/**
 * The live feed has sent its last event (the server then ends the stream): close it before the
 * browser reconnects, and show the record as stored (cost, recording) and the call's webhooks.
 */
function feedDone() {
  feed?.close();
  $("feed").textContent = "";
  refreshSoon();
  showWebhookDeliveries(callSid);
}

/**
 * The browser gave up on the feed (an answer that is no event stream, e.g. 401 once the session is
 * gone): the call's record says why, and the page says what to do.
 */
async function feedStopped() {
  try {
    record = /** @type {CallRecord} */ (await api(`/api/calls/${encodeURIComponent(callSid)}`));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      // api() is sending the browser to sign in, back to this page; in case that waits:
      const next = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
      $("feed").replaceChildren(h("a", { href: next }, error.message));
    } else {
      $("feed").replaceChildren(
        `live feed stopped: ${error instanceof Error ? error.message : error}. `,
        h("a", { href: location.pathname }, "Reload"),
      );
    }
    return;
  }
  render();
  if (ended()) {
    $("feed").textContent = "";
    showWebhookDeliveries(callSid);
  } else {
    $("feed").replaceChildren(
      "live feed stopped: ",
      h("a", { href: location.pathname }, "reload"),
      " to follow the call",
    );
  }
}

function follow() {
  feed = new EventSource(`/api/calls/${encodeURIComponent(callSid)}/events`);
  feed.addEventListener("open", () => $("feed").textContent = "live");
  feed.addEventListener("error", () => {
    if (feed?.readyState === EventSource.CLOSED) void feedStopped();
    else $("feed").textContent = "connection lost: reconnecting…";
  });
  on("snapshot", (snapshot) => {
    record = snapshot;
    // An ended call's stream ends after its snapshot, or after `call.analyzed` while the analysis runs.
    if (snapshot.endedAt !== null && !analysing(snapshot)) feedDone();
  });
  // Sent (last) only to a feed that subscribed once the call had ended, while its analysis ran.
  feed.addEventListener("call.analyzed", () => feedDone());
  on("call.status", (e) => record.status = e.status);
  on("call.started", (e) => record.startedAt = e.at);
  on(
    "transcript",
    (e) =>
      record.transcript.push({
        ...e,
        interruptedAtMs: e.interruptedAtMs ?? null,
        spokenAt: e.spokenAt ?? null,
      }),
  );
  on("turn.latency", (e) => {
    record.turns.push({ ...e, firstAudioHeardMs: e.firstAudioHeardMs ?? null });
    refreshSoon();
  });
  on("tool.called", (e) => (record.toolCalls ??= []).push(e));
  // Every engine's usage report (an answer's tokens, GPT-Live's minutes so far) changes the cost.
  on("usage", () => refreshSoon());
  on("call.ended", (e) => {
    record.endedAt = e.at;
    record.endReason = e.reason;
    feedDone();
  });
}

/**
 * Applies each `type` event of the live feed to the record, then shows it.
 * @template {keyof CallFeedEvents} K
 * @param {K} type @param {(data: CallFeedEvents[K]) => void} apply
 */
function on(type, apply) {
  feed?.addEventListener(type, (event) => {
    apply(JSON.parse(/** @type {MessageEvent<string>} */ (event).data));
    render();
  });
}

$("hangup").addEventListener("click", async () => {
  fieldError("hangup", "");
  const asked = await refusalShown(
    "hangup",
    api(`/api/calls/${encodeURIComponent(callSid)}/hangup`, { method: "POST" }),
  );
  if (asked !== undefined) $("status").textContent = "hanging up…";
});

async function load() {
  try {
    record = /** @type {CallRecord} */ (await api(`/api/calls/${encodeURIComponent(callSid)}`));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    $("status").textContent = error.status === 404 ? "Not found" : "Could not load";
    $("record").hidden = true;
    $("problem").hidden = false;
    $("problem").replaceChildren(
      h(
        "p",
        {},
        error.status === 404
          ? "Parley has no record of this call. The link may be mistyped, or the call was placed by another server."
          : `Could not load this call: ${error.message}`,
      ),
      h("p", {}, h("a", { href: "/calls" }, "See all calls")),
    );
    document.body.dataset.ready = "true";
    return;
  }
  render();
  await showWebhookDeliveries(callSid);
  if (!ended()) follow();
  if (record.parameters.voice === undefined && record.persona !== null) {
    const persona = /** @type {PersonaSummary | undefined} */ (
      await api(`/api/personas/${encodeURIComponent(record.persona)}`).catch(() => undefined)
    );
    ownVoice = persona?.voice;
    render();
  }
  document.body.dataset.ready = "true";
}
load();
