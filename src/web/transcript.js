/** A call's transcript as list items, and a live follower for the softphone's call. */
import { h } from "./app.js";

/** @typedef {import("../api/types.ts").TranscriptLine} TranscriptLine */
/** @typedef {import("../api/types.ts").CallFeedEvents} CallFeedEvents */

/**
 * One line of a transcript: who spoke, what was said, and where the caller cut the agent off.
 * @param {{ speaker: string, text: string, interruptedAtMs?: number | null }} line
 * @param {string} [caller] what to call the caller
 * @returns {HTMLElement}
 */
export function transcriptItem(line, caller = "Caller") {
  const cut = line.interruptedAtMs !== null && line.interruptedAtMs !== undefined;
  return h(
    "li",
    { class: line.speaker },
    h("span", { class: "who" }, line.speaker === "agent" ? "Agent:" : `${caller}:`),
    line.text,
    cut
      ? h("em", {}, ` [interrupted after ${Math.round(/** @type {number} */ (line.interruptedAtMs))} ms]`)
      : null,
  );
}

/**
 * Follows call `callSid`'s live feed and keeps `list` showing its transcript as it is spoken. The
 * record may not exist the instant the call is assigned: a refused feed is tried again, 20 times.
 * The feed stops once the call has ended: on `call.ended`, or on a snapshot of the ended call (the
 * server then ends the stream, which the browser would otherwise reopen every few seconds).
 * @param {string} callSid
 * @param {HTMLElement} list
 * @param {string} caller what to call the caller ("You" on the softphone)
 * @returns {() => void} stops following
 */
export function followTranscript(callSid, list, caller) {
  const item = (/** @type {TranscriptLine | CallFeedEvents["transcript"]} */ line) =>
    transcriptItem(line, caller);
  /** @type {EventSource | undefined} */
  let feed;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let retry;
  let stopped = false;
  let tries = 0;
  const open = () => {
    if (stopped) return;
    tries++;
    const source = new EventSource(`/api/calls/${encodeURIComponent(callSid)}/events`);
    feed = source;
    const stop = () => {
      stopped = true;
      source.close();
    };
    source.addEventListener("snapshot", (event) => {
      /** @type {CallFeedEvents["snapshot"]} */
      const record = JSON.parse(/** @type {MessageEvent<string>} */ (event).data);
      list.replaceChildren(...(record.transcript ?? []).map((line) => item(line)));
      // Ended already: that is the whole transcript.
      if (record.endedAt !== null) stop();
    });
    source.addEventListener("transcript", (event) => {
      list.append(item(JSON.parse(/** @type {MessageEvent} */ (event).data)));
    });
    source.addEventListener("call.ended", stop);
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED && !stopped && tries < 20) {
        retry = setTimeout(open, 250);
      }
    });
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(retry);
    feed?.close();
  };
}
