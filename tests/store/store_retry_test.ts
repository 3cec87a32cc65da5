/**
 * The store retry (`src/store/store_retry.ts`), which keeps webhooks and analyses that the store
 * refused: work that fails together (two enqueues in flight when Postgres stops answering) is tried
 * again by one retry at a time, each piece once, in order, and the process lives through the store's
 * return.
 */

import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { type StoreJob, StoreRetry } from "../../src/store/store_retry.ts";
import { within } from "../../testing/within.ts";

/** A store that fails every write until `recover()`; each write takes a turn of the event loop. */
function flakyStore() {
  let down = true;
  let recovered!: () => void;
  const back = new Promise<void>((resolve) => recovered = resolve);
  const written: string[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  /** Tries of a piece of work that had been tried before, under way now. */
  let retriesInFlight = 0;
  let mostRetriesInFlight = 0;
  let attempts = 0;
  const tried = new Set<string>();
  const attemptWaiters: { n: number; resolve: () => void }[] = [];
  const job = (what: string): StoreJob => ({
    what,
    async run() {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      attempts++;
      // A retry: this piece was tried before. (A first try of another may still be under way.)
      const retry = tried.has(what);
      tried.add(what);
      if (retry) mostRetriesInFlight = Math.max(mostRetriesInFlight, ++retriesInFlight);
      for (const w of attemptWaiters) if (attempts >= w.n) w.resolve();
      try {
        // Postgres that stopped answering: a write fails only after a while (its connect timeout),
        // much longer than the retries' backoff here.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([back, new Promise((resolve) => timer = setTimeout(resolve, WRITE_TIMEOUT_MS))]);
        clearTimeout(timer);
        if (down) throw new Error("connect timeout");
        written.push(what);
      } finally {
        inFlight--;
        if (retry) retriesInFlight--;
      }
    },
  });
  return {
    job,
    written,
    mostInFlight: () => mostInFlight,
    mostRetriesInFlight: () => mostRetriesInFlight,
    /** Resolves once `n` writes have been tried, failed or not. */
    attempted: (n: number) =>
      attempts >= n ? Promise.resolve() : new Promise<void>((resolve) => attemptWaiters.push({ n, resolve })),
    recover() {
      down = false;
      recovered();
    },
  };
}

function recordingLogger() {
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const log = createLogger({
    sink: (_level, line) => {
      lines.push(line);
      for (const w of waiters) if (w.pattern.test(line)) w.resolve();
    },
  });
  const waitFor = (pattern: RegExp) =>
    lines.some((l) => pattern.test(l))
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ pattern, resolve }));
  return { log, lines, waitFor };
}

/** How long a write to the stopped store takes to fail, ms: far longer than the backoff below. */
const WRITE_TIMEOUT_MS = 150;

const WORDS = { subject: "Webhooks", verb: "enqueue", done: "enqueued" };

Deno.test("work that fails together is retried by one retry at a time, each piece once, and the store's return is logged once", async () => {
  const store = flakyStore();
  const { log, lines, waitFor } = recordingLogger();
  const retry = new StoreRetry({ log, words: WORDS, firstRetryMs: 10, maxRetryMs: 20 });
  try {
    // Two writes in flight when the store stops answering.
    void retry.submit(store.job("call.ended of CA1"));
    void retry.submit(store.job("call.started of CA2"));
    assert.equal(store.mostInFlight(), 2, "both writes in flight at once");
    await within(waitFor(/Webhooks: cannot enqueue/), "the failure logged");
    // A third arrives while they wait; retries fail (backing off) before the store comes back.
    void retry.submit(store.job("call.ended of CA3"));
    await within(store.attempted(5), "three retries");
    store.recover();
    await within(waitFor(/Webhooks: enqueued again/), "the return logged");
    assert.deepEqual(
      [...store.written].sort(),
      ["call.ended of CA1", "call.ended of CA3", "call.started of CA2"],
      "each piece written once",
    );
    assert.equal(store.mostRetriesInFlight(), 1, "retries run one at a time");
    assert.equal(retry.pending, 0);
    assert.equal(lines.filter((l) => /cannot enqueue/.test(l)).length, 1, "the failure logged once");
    assert.equal(lines.filter((l) => /enqueued again/.test(l)).length, 1, "the return logged once");
    assert.match(lines.find((l) => /enqueued again/.test(l))!, /: 3 enqueued, 0 dropped/);
  } finally {
    await retry.close();
  }
});
