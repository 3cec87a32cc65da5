/**
 * A `Deno.serve` that survives running out of file descriptors.
 *
 * Measured on Deno 2.9.6 under `prlimit --nofile=64`: when accepting a connection fails with EMFILE,
 * `Deno.serve` stops listening for good and its `finished` promise rejects with `Too many open files
 * (os error 24)`; nothing else is reported, and an unhandled rejection ends the process. Connections
 * already accepted (calls' WebSockets included) go on. So this module watches `finished` and listens
 * again on the same address once descriptors are free: meanwhile new connections are refused by the
 * kernel (shed), calls in progress keep going, one warning is logged per episode, and `/metrics`
 * counts it ({@linkcode ListenerHealth}).
 *
 * Deno raises the soft `RLIMIT_NOFILE` to the hard limit when it starts (measured: `prlimit
 * --nofile=256:4096 deno …` runs with 4096), so the limit left is the hard one the shell or service
 * set. The server cannot read it: Deno refuses `/proc/self/limits` and `/proc/self/fd` without
 * `--allow-all` (NotCapable), and raising it needs FFI or a subprocess, which the tasks do not grant.
 * The README says how to raise it.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { errorText } from "../log.ts";

/** The listener's figures for `/metrics`. */
export interface ListenerHealth {
  /** Times descriptors ran out, each counted once however many accepts failed in it. */
  exhaustionEpisodes: number;
  /** Times the listener stopped on an accept error and was opened again. */
  acceptFailures: number;
  /** False while new connections are refused (descriptors short). */
  accepting: boolean;
}

/** Options for {@linkcode serveResilient}. */
export interface ResilientServeOptions {
  hostname: string;
  port: number;
  /** Called once, when first listening, with the bound address. */
  onListen?(addr: Deno.NetAddr): void;
  log: Pick<Logger, "info" | "warn" | "error">;
  /** First wait before listening again, ms; doubles up to `maxRetryMs`. @default 100 */
  retryMs?: number;
  /** @default 1000 */
  maxRetryMs?: number;
  /** An episode ends after this long accepting without a failure, ms. @default 5000 */
  calmMs?: number;
}

/** A running server; see {@linkcode serveResilient}. */
export interface ResilientServer {
  /** The address bound first (the same port is used again after an episode). */
  readonly addr: Deno.NetAddr;
  /** Figures for `/metrics`. */
  health(): ListenerHealth;
  /** Stops listening (for good) and waits for the connections to end, like `Deno.HttpServer.shutdown`. */
  shutdown(): Promise<void>;
}

/** True for EMFILE / ENFILE: this process (or the system) is out of file descriptors. */
export function isOutOfDescriptors(error: unknown): boolean {
  const text = error instanceof Error ? `${error.message} ${String(error.cause ?? "")}` : String(error);
  return /Too many open files|os error 2[34]\b/i.test(text);
}

/**
 * Serves `handler` like `Deno.serve`, listening again whenever the listener dies (running out of
 * descriptors). Throws like `Deno.serve` when the first listen fails (port in use).
 *
 * @example
 * ```ts
 * const server = serveResilient({ hostname: "0.0.0.0", port: 4000, log }, parley.handler);
 * // on shutdown
 * await server.shutdown();
 * ```
 */
export function serveResilient(
  options: ResilientServeOptions,
  handler: Deno.ServeHandler<Deno.NetAddr>,
): ResilientServer {
  return new ResilientListener(options, handler);
}

/** One failing stretch: when it began, how many times the listener stopped, and whether it was told. */
interface Episode {
  startedAt: number;
  failures: number;
  /** An error other than running out of descriptors was logged in it. */
  otherError: boolean;
}

/**
 * The listener behind {@linkcode serveResilient}: `#listen` opens one `Deno.serve`, `#failed` notes
 * an episode when it dies, `#retry` listens again with backoff, and `#calm` ends the episode once
 * accepting has held for `calmMs`.
 */
class ResilientListener implements ResilientServer {
  #options: ResilientServeOptions;
  #handler: Deno.ServeHandler<Deno.NetAddr>;
  #firstRetryMs: number;
  #retryMs: number;
  #figures: ListenerHealth = { exhaustionEpisodes: 0, acceptFailures: 0, accepting: true };
  #stopped = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #calmTimer: ReturnType<typeof setTimeout> | undefined;
  #episode: Episode | undefined;
  #current: Deno.HttpServer<Deno.NetAddr> | undefined;
  /** Servers whose connections have not all ended (a dead listener's accepted connections go on). */
  #closing = new Set<Promise<void>>();
  #addr: Deno.NetAddr;

  constructor(options: ResilientServeOptions, handler: Deno.ServeHandler<Deno.NetAddr>) {
    this.#options = options;
    this.#handler = handler;
    this.#firstRetryMs = options.retryMs ?? 100;
    this.#retryMs = this.#firstRetryMs;
    this.#addr = { transport: "tcp", hostname: options.hostname, port: options.port };
    const first = this.#listen((bound) => {
      this.#addr = bound;
      options.onListen?.(bound);
    });
    this.#addr = first.addr;
  }

  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  health(): ListenerHealth {
    return { ...this.#figures };
  }

  async shutdown(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#calmTimer);
    await this.#current?.shutdown();
    await Promise.all([...this.#closing]);
  }

  #listen(onListen: (addr: Deno.NetAddr) => void): Deno.HttpServer<Deno.NetAddr> {
    const { hostname } = this.#options;
    const server = Deno.serve({ hostname, port: this.#addr.port, onListen }, this.#handler);
    this.#current = server;
    // Connections a dead listener accepted still end through this promise.
    const done: Promise<void> = server.finished.then(() => {}, () => {}).then(() =>
      void this.#closing.delete(done)
    );
    this.#closing.add(done);
    server.finished.then(() => {}, (error: unknown) => {
      if (this.#stopped || this.#current !== server) return;
      this.#current = undefined;
      this.#failed(error);
    });
    return server;
  }

  #failed(error: unknown): void {
    this.#figures.acceptFailures++;
    this.#figures.accepting = false;
    clearTimeout(this.#calmTimer);
    this.#calmTimer = undefined;
    const short = isOutOfDescriptors(error);
    if (this.#episode === undefined) {
      this.#episode = { startedAt: performance.now(), failures: 0, otherError: !short };
      if (short) {
        this.#figures.exhaustionEpisodes++;
        this.#options.log.warn(
          "Out of file descriptors: new connections are refused until some close; calls in progress go on. " +
            "If this is real traffic, raise the open files limit (ulimit -Hn, LimitNOFILE; see the README)",
        );
      } else {
        const text = errorText(error);
        this.#options.log.error(`The listener stopped (${text}): listening again; calls in progress go on`);
      }
    }
    this.#episode.failures++;
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    this.#retryTimer = setTimeout(() => this.#retry(), this.#retryMs);
  }

  #retry(): void {
    this.#retryTimer = undefined;
    if (this.#stopped) return;
    try {
      this.#listen(() => {});
    } catch (error) {
      // Opening the socket needs a descriptor too: wait longer.
      this.#retryMs = Math.min(this.#retryMs * 2, this.#options.maxRetryMs ?? 1_000);
      const episode = this.#episode;
      if (!isOutOfDescriptors(error) && episode !== undefined && !episode.otherError) {
        episode.otherError = true;
        this.#options.log.error(
          `Cannot listen again on port ${this.#addr.port}: ${(error as Error).message}: retrying`,
        );
      }
      this.#scheduleRetry();
      return;
    }
    this.#figures.accepting = true;
    this.#retryMs = this.#firstRetryMs;
    this.#calmTimer = setTimeout(() => this.#calm(), this.#options.calmMs ?? 5_000);
  }

  /** Accepting has held for `calmMs`: the episode is over. */
  #calm(): void {
    this.#calmTimer = undefined;
    if (this.#episode === undefined) return;
    const calmMs = this.#options.calmMs ?? 5_000;
    const seconds = ((performance.now() - this.#episode.startedAt - calmMs) / 1000).toFixed(1);
    this.#options.log.info(
      `Accepting connections again (refused new ones for ${seconds} s; the listener stopped ` +
        `${this.#episode.failures} time(s))`,
    );
    this.#episode = undefined;
  }
}
