/**
 * The post-call analysis worker: when a call whose persona declares `analysis` ends, a pending
 * analysis is written to the store (durable); this worker claims due analyses (one instance at a time
 * per analysis), asks the Responses API, and settles each: `done` with the outcome and its cost, a
 * retry after a backoff (429, 5xx, no answer: `retry-after` when the API gives one), or `failed` with
 * the reason. A restart loses nothing: the rows are in the store, and its own claims go back to
 * pending at start. Each settled analysis is published on the bus as a `call.analyzed` event (the
 * webhook outbox listens for it).
 *
 * The wake-up is one timer, armed for the earliest due analysis (read from the store) or the next
 * poll, whichever is sooner; the state that matters is in the store, not in the timer. A claim the
 * store refuses (another process holds the write lock on `parley.db`, Postgres restarting) is logged
 * once and tried again after 1 s, doubling to 5 s, until the store takes one; putting back a previous
 * run's claims at start waits for the same.
 *
 * This file decides when to claim and how many; running and settling one claimed analysis is
 * `run_job.ts`.
 *
 * @module
 */

import type { PriceTable } from "../engines/price_table.ts";
import { errorText, escapeLogText, type Logger } from "../log.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { AnalysisJob, AnalysisSpec } from "../store/analysis_job.ts";
import type { AnalysisJobs, CallRecords, EventBus } from "../store/ports.ts";
import type { ResponsesEndpoint } from "./client.ts";
import { MAX_ANALYSIS_ATTEMPTS, runAnalysisJob } from "./run_job.ts";
import { assertStoreWriting, STORE_RETRY_DEFAULTS, StoreRetry } from "../store/store_retry.ts";

/** Re-exported: the limit lives with the running of one analysis (`run_job.ts`). */
export { MAX_ANALYSIS_ATTEMPTS };

/** Calls under way whose persona the worker keeps in mind; beyond, an ended call's record says. */
const MAX_CALLS_IN_MIND = 10_000;

/** Collaborators of {@linkcode AnalysisWorker}. */
export interface AnalysisWorkerOptions {
  jobs: AnalysisJobs;
  calls: Pick<CallRecords, "getCall" | "health">;
  personas: PersonaRegistry;
  /** Where call events come from (call.ended) and where `call.analyzed` goes. */
  bus: Pick<EventBus, "subscribe" | "publish">;
  endpoint: ResponsesEndpoint;
  /** OPENAI_ANALYSIS_MODEL: the model of personas that name none. */
  defaultModel: string;
  /** This instance's INSTANCE_ID: it claims analyses under this name. */
  instance: string;
  prices: PriceTable;
  log: Logger;
  /** First backoff after a retryable failure without `retry-after`, doubled each try, ms. @default 2000 */
  backoffMs?: number;
  /** Longest backoff, ms. @default 600000 */
  maxBackoffMs?: number;
  /** Look for analyses due (other instances', lapsed claims) at least this often, ms. @default 30000 */
  pollMs?: number;
  /** A claim holds this long; one a crashed instance left is taken again after it, ms. @default 300000 */
  leaseMs?: number;
  /** Analyses run at once by this instance. @default 2 */
  concurrency?: number;
  now?: () => number;
}

/** Runs the post-call analyses of one instance. */
export class AnalysisWorker {
  readonly #options: AnalysisWorkerOptions;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The wake after an analysis settled, on the event loop's next turn ({@linkcode #wakeSoon}). */
  #soon: ReturnType<typeof setTimeout> | undefined;
  #off: (() => void) | undefined;
  #running = new Set<Promise<void>>();
  #stopped = false;
  /** Aborted by {@linkcode stop}: requests under way end at once (the claim goes back at the next start). */
  readonly #abort = new AbortController();
  #ticking: Promise<void> | undefined;
  #again = false;
  /** Settles once this instance's old claims are back to pending: nothing is claimed before. */
  #ready: Promise<unknown> = Promise.resolve();
  /**
   * This instance's claims from a previous run are back to pending ({@linkcode start}, or the first
   * tick that could): until then each tick tries that first, and claims nothing.
   */
  #released = false;
  /** Claims the store refuses since `since` (performance.now()), tried again after `retryMs`. */
  #claimsFailing: { since: number; retryMs: number } | undefined;
  /** Queuing an analysis the store cannot take now (a locked or full disk, Postgres down) waits here. */
  readonly #retry: StoreRetry;
  /**
   * So does an outcome OpenAI gave: dropped, the claim's lease would lapse and the analysis run (and be
   * billed) again.
   */
  readonly #outcomes: StoreRetry;
  /**
   * The persona of each call under way, from its `call.started`: a call that ends with a persona
   * declaring no analysis has nothing to queue, and its record is not read (a read writes the store's
   * waiting events first).
   */
  readonly #personaOf = new Map<string, string>();

  /** Builds the worker; {@linkcode start} starts it. */
  constructor(options: AnalysisWorkerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#retry = new StoreRetry({
      log: options.log,
      words: { subject: "Analysis", verb: "queue", done: "queued" },
    });
    this.#outcomes = new StoreRetry({
      log: options.log,
      words: { subject: "Analysis", verb: "store", done: "stored" },
    });
  }

  /** Listens for ended calls, puts back this instance's claims from a previous run, and runs what is due. */
  async start(): Promise<void> {
    this.#off = this.#options.bus.subscribe((event) => {
      if (event.type === "call.started") {
        if (this.#personaOf.size < MAX_CALLS_IN_MIND) this.#personaOf.set(event.callSid, event.persona);
      } else if (event.type === "call.ended") this.#ended(event.callSid);
    });
    const release = this.#release();
    this.#ready = release.catch(() => 0);
    try {
      await release;
    } catch {
      // The store refused (locked, or a failover): the first tick puts them back before it claims, and
      // its failure is logged as a claim's (once, then retried).
    }
    this.#wake();
  }

  /** Puts this instance's claims from a previous run back to pending, once. */
  async #release(): Promise<void> {
    const released = await this.#options.jobs.release(this.#options.instance, this.#now());
    this.#released = true;
    if (released > 0) {
      this.#options.log.info(`Analysis: ${released} analysis(es) a previous run left unfinished go again`);
    }
  }

  /**
   * Queues the analyses of calls that ended without a `call.ended` on this bus: the records a crashed
   * run left open, closed at startup.
   */
  enqueueEnded(callSids: readonly string[]): void {
    for (const callSid of callSids) this.#queue(callSid);
  }

  /** Stops claiming and waits for the analyses under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    clearTimeout(this.#timer);
    clearTimeout(this.#soon);
    this.#off?.();
    await this.#retry.close();
    await this.#ticking;
    await Promise.all(this.#running);
    await this.#outcomes.close();
  }

  /** A call ended: its analysis is queued unless the persona it started with declares none. */
  #ended(callSid: string): void {
    const persona = this.#personaOf.get(callSid);
    this.#personaOf.delete(callSid);
    // The record would name the same persona (the one chosen at start), and #enqueue would stop there.
    if (persona !== undefined && this.#options.personas.get(persona)?.persona.analysis === undefined) return;
    this.#queue(callSid);
  }

  /** Queues the analysis of `callSid`, now or, while the store cannot take it, once it can. */
  #queue(callSid: string): void {
    this.#track(
      this.#retry.submit({ what: `the analysis of ${callSid}`, run: () => this.#enqueue(callSid) }),
    );
  }

  /**
   * Enqueues the analysis of `callSid` if its persona declares one and its stream started; throws while
   * the store fails.
   */
  async #enqueue(callSid: string): Promise<void> {
    const record = await this.#options.calls.getCall(callSid);
    assertStoreWriting(this.#options.calls); // the read flushed the store's queue: failing, it is behind
    const persona = record?.persona === null || record?.persona === undefined
      ? undefined
      : this.#options.personas.get(record.persona);
    const analysis = persona?.persona.analysis;
    if (persona === undefined || analysis === undefined) return;
    // No stream ever started (refused, never answered, never connected): no conversation to read, and
    // nothing worth a request.
    if (record!.startedAt === null) return;
    await this.#ready;
    const spec: AnalysisSpec = {
      persona: persona.id,
      model: analysis.model ?? this.#options.defaultModel,
      schema: analysis.schema,
      instructions: analysis.instructions ?? null,
    };
    if (await this.#options.jobs.enqueue(callSid, spec, this.#now())) {
      this.#options.log.info(`Analysis queued: CallSid=${callSid} persona=${persona.id} model=${spec.model}`);
      this.#wake();
    }
  }

  /**
   * Runs a tick on the event loop's next turn: an analysis settles right after a write (its outcome),
   * and a claim then would be a second write in the same turn, two busy timeouts' stall under a lock.
   */
  #wakeSoon(): void {
    if (this.#stopped || this.#soon !== undefined) return;
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      this.#wake();
    }, 0);
  }

  /** Runs a tick now (or right after the one under way). */
  #wake(): void {
    if (this.#stopped) return;
    if (this.#ticking !== undefined) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#ticking = this.#tick().then(
      (asked) => {
        if (asked) this.#claimsWork();
      },
      (error) => this.#claimFailed(error),
    ).finally(() => {
      this.#ticking = undefined;
      if (this.#again) {
        this.#again = false;
        this.#wake();
      } else void this.#arm();
    });
  }

  /** Claims what is due, for the room left; resolves true when it asked the store (and it answered). */
  async #tick(): Promise<boolean> {
    const room = (this.#options.concurrency ?? 2) - this.#running.size;
    if (room <= 0 || this.#stopped) return false;
    if (!this.#released) await this.#release();
    const jobs = await this.#options.jobs.claim(
      this.#options.instance,
      this.#now(),
      room,
      this.#options.leaseMs ?? 300_000,
    );
    for (const job of jobs) this.#track(this.#run(job).finally(() => this.#wakeSoon()));
    return true;
  }

  /**
   * The store refused a claim: logged when a failing stretch starts, then tried again after 1 s,
   * doubling to 5 s (not at once: a claim that meets a lock waits for it, on the event loop).
   */
  #claimFailed(error: unknown): void {
    const first = STORE_RETRY_DEFAULTS.firstRetryMs;
    if (this.#claimsFailing === undefined) {
      this.#claimsFailing = { since: performance.now(), retryMs: first };
      this.#options.log.error(
        `Analysis: cannot claim analyses: ${escapeLogText(errorText(error))}; ` +
          `trying again after ${first / 1000} s, doubling to ${STORE_RETRY_DEFAULTS.maxRetryMs / 1000} s`,
      );
    } else {
      this.#claimsFailing.retryMs = Math.min(
        this.#claimsFailing.retryMs * 2,
        STORE_RETRY_DEFAULTS.maxRetryMs,
      );
    }
  }

  /** A claim went through: a failing stretch, if any, is over. */
  #claimsWork(): void {
    const failing = this.#claimsFailing;
    if (failing === undefined) return;
    this.#claimsFailing = undefined;
    this.#options.log.info(
      `Analysis: claims again after ${((performance.now() - failing.since) / 1000).toFixed(1)} s`,
    );
  }

  /** Arms the timer for the earliest due analysis, or the next poll (or the retry of a refused claim). */
  async #arm(): Promise<void> {
    if (this.#stopped) return;
    if (this.#claimsFailing !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#wake(), this.#claimsFailing.retryMs);
      return;
    }
    let due: number | undefined;
    try {
      due = await this.#options.jobs.nextTryAt();
    } catch {
      due = undefined;
    }
    if (this.#stopped || this.#ticking !== undefined) return;
    const poll = this.#options.pollMs ?? 30_000;
    const wait = due === undefined ? poll : Math.min(poll, Math.max(0, due - this.#now()));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#wake(), wait);
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch((error) => {
      this.#options.log.error(`Analysis: ${escapeLogText(errorText(error))}`);
    }).finally(() => this.#running.delete(tracked));
    this.#running.add(tracked);
  }

  /** Runs the claimed `job` and records how it settled (`run_job.ts`). */
  #run(job: AnalysisJob): Promise<void> {
    return runAnalysisJob(job, {
      ...this.#options,
      now: this.#now,
      signal: this.#abort.signal,
      outcomes: this.#outcomes,
    });
  }
}
