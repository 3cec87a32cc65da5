/**
 * The caller's last words: a caller who hangs up while their last words (or the agent's answer) are
 * still being transcribed would lose them from the record. So an ended call keeps its upstream session
 * open, sending nothing, until those lines come or {@linkcode TRANSCRIPT_GRACE_MS} has passed. The call
 * still ends when it ended (the record's end time), and nothing more is played.
 *
 * @module
 */

import type { EndReason } from "../calls/call_events.ts";
import type { AgentSide } from "./agent_side.ts";
import type { CallParts } from "./call_parts.ts";

/** Ends after which the caller's last words (or the agent's answer) may still be transcribed. */
const LINGERING_ENDS: ReadonlySet<EndReason> = new Set(["caller_hung_up", "hung_up_by_user"]);
/** How long an ended call waits for a transcript still due, ms. */
export const TRANSCRIPT_GRACE_MS = 1_500;
/** A line whose hearing began this recently, with no transcript yet, is still due, ms. */
const RECENT_LINE_MS = 60_000;
/** How often the wait checks whether the lines came, ms. */
const TRANSCRIPT_POLL_MS = 25;

/**
 * Waits, after a call that started ended for `reason`, for the transcripts still due, then calls
 * `finish`. Returns what ends the wait at once (a shutdown), or undefined when nothing is due: then
 * `finish` is the caller's to call, now.
 *
 * @example
 * ```ts
 * const stopWaiting = awaitLastWords(parts, agent, "caller_hung_up", finish);
 * if (stopWaiting === undefined) finish();
 * ```
 */
export function awaitLastWords(
  p: CallParts,
  agent: AgentSide,
  reason: EndReason,
  finish: () => void,
): (() => void) | undefined {
  const since = p.now();
  // `session.open` stays true after a close: the session's own promise says when it is gone.
  let sessionGone = false;
  p.session.closed.then(() => sessionGone = true);
  const awaiting = () =>
    !sessionGone && p.session.open && agent.awaitingTranscript(p.now(), RECENT_LINE_MS) &&
    p.now() - since < TRANSCRIPT_GRACE_MS;
  if (!LINGERING_ENDS.has(reason) || !awaiting()) return undefined;
  agent.lingering(true);
  // No one will hear an answer still being generated: stop it (Realtime cancels; its transcript and
  // `response.done` still come), so the wait costs no output tokens.
  for (const message of p.session.engine.interruption([], p.bargeIn.activeResponse)) {
    p.session.send(message);
  }
  // A caller who hung up mid-sentence ("Tuesday works, b—"): no silence will follow for the server to
  // end their turn, so their words so far are committed and transcribed now (this starts no answer).
  const commit = agent.callerMidSentence ? p.session.engine.commitMessage() : undefined;
  if (commit !== undefined) p.session.send(commit);
  const lingering = setInterval(() => {
    if (awaiting()) return;
    clearInterval(lingering);
    finish();
  }, TRANSCRIPT_POLL_MS);
  return () => {
    clearInterval(lingering);
    finish();
  };
}
