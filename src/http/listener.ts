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
  const { log } = options;
  const firstRetryMs = options.retryMs ?? 100;
  const maxRetryMs = options.maxRetryMs ?? 1_000;
  const calmMs = options.calmMs ?? 5_000;
  const figures = { exhaustionEpisodes: 0, acceptFailures: 0, accepting: true };
  let stopped = false;
  let retryMs = firstRetryMs;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let calmTimer: ReturnType<typeof setTimeout> | undefined;
  let episode: { startedAt: number; failures: number; otherError: boolean } | undefined;
  let current: Deno.HttpServer<Deno.NetAddr> | undefined;
  const closing = new Set<Promise<void>>();
  let addr: Deno.NetAddr = { transport: "tcp", hostname: options.hostname, port: options.port };

  const listen = (onListen: (addr: Deno.NetAddr) => void) => {
    const server = Deno.serve({ hostname: options.hostname, port: addr.port, onListen }, handler);
    current = server;
    // Connections a dead listener accepted still end through this promise.
    const done: Promise<void> = server.finished.then(() => {}, () => {}).then(() =>
      void closing.delete(done)
    );
    closing.add(done);
    server.finished.then(() => {}, (error: unknown) => {
      if (stopped || current !== server) return;
      current = undefined;
      failed(error);
    });
    return server;
  };

  const failed = (error: unknown) => {
    figures.acceptFailures++;
    figures.accepting = false;
    clearTimeout(calmTimer);
    calmTimer = undefined;
    const short = isOutOfDescriptors(error);
    if (episode === undefined) {
      episode = { startedAt: performance.now(), failures: 0, otherError: !short };
      if (short) {
        figures.exhaustionEpisodes++;
        log.warn(
          "Out of file descriptors: new connections are refused until some close; calls in progress go on. " +
            "If this is real traffic, raise the open files limit (ulimit -Hn, LimitNOFILE; see the README)",
        );
      } else {
        const text = error instanceof Error ? error.message : String(error);
        log.error(`The listener stopped (${text}): listening again; calls in progress go on`);
      }
    }
    episode.failures++;
    scheduleRetry();
  };

  const scheduleRetry = () => {
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (stopped) return;
      try {
        listen(() => {});
      } catch (error) {
        // Opening the socket needs a descriptor too: wait longer.
        retryMs = Math.min(retryMs * 2, maxRetryMs);
        if (!isOutOfDescriptors(error) && episode !== undefined && !episode.otherError) {
          episode.otherError = true;
          log.error(`Cannot listen again on port ${addr.port}: ${(error as Error).message}: retrying`);
        }
        scheduleRetry();
        return;
      }
      figures.accepting = true;
      retryMs = firstRetryMs;
      calmTimer = setTimeout(() => {
        calmTimer = undefined;
        if (episode === undefined) return;
        const seconds = ((performance.now() - episode.startedAt - calmMs) / 1000).toFixed(1);
        log.info(
          `Accepting connections again (refused new ones for ${seconds} s; the listener stopped ` +
            `${episode.failures} time(s))`,
        );
        episode = undefined;
      }, calmMs);
    }, retryMs);
  };

  const first = listen((bound) => {
    addr = bound;
    options.onListen?.(bound);
  });
  addr = first.addr;

  return {
    get addr() {
      return addr;
    },
    health() {
      return { ...figures };
    },
    async shutdown() {
      stopped = true;
      clearTimeout(retryTimer);
      clearTimeout(calmTimer);
      await current?.shutdown();
      await Promise.all([...closing]);
    },
  };
}
