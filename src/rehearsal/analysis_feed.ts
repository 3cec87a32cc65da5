/**
 * Waits for a call's post-call analysis to settle on the call's live feed
 * (`GET /api/calls/:sid/events`): for a call that has ended while its analysis is pending or running,
 * the feed sends the snapshot, then `call.analyzed` once the analysis is stored, then ends.
 *
 * @module
 */

import { apiHeaders, type ParleyTarget } from "./phone_requests.ts";

/**
 * Reads the feed of `callSid` until it sends `call.analyzed` (true), or it ends without (false: the
 * call had not ended yet, or no analysis was under way), or `waitMs` passes (false).
 *
 * @throws {Error} when the feed cannot be opened, saying what the server answered.
 * @example
 * ```ts
 * if (await feedSaysAnalyzed(target, "CA…", 60_000)) console.log("the analysis is stored");
 * ```
 */
export async function feedSaysAnalyzed(
  target: ParleyTarget,
  callSid: string,
  waitMs: number,
): Promise<boolean> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), Math.max(0, waitMs));
  try {
    const response = await fetch(`${target.origin}/api/calls/${encodeURIComponent(callSid)}/events`, {
      headers: { ...apiHeaders(target), accept: "text/event-stream" },
      signal: abort.signal,
    });
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      throw new Error(`GET /api/calls/${callSid}/events answered ${response.status}`);
    }
    const lines = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    while (true) {
      const { done, value } = await lines.read();
      if (done) return false;
      pending += value;
      const complete = pending.split("\n");
      pending = complete.pop()!;
      if (complete.some((line) => line.trimEnd() === "event: call.analyzed")) {
        await lines.cancel();
        return true;
      }
    }
  } catch (error) {
    if (abort.signal.aborted) return false;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
