/**
 * Parley's entry point: configuration → personas → server → signals.
 *
 * Run with `deno task dev` (watch mode, reloads personas on change) or `deno task start`.
 *
 * @module
 */

import { join } from "node:path";
import { startupBanner } from "./src/banner.ts";
import { createRelayCounters } from "./src/calls/relay_counters.ts";
import { MAX_RING_MS } from "./src/calls/never_connected.ts";
import { CallHub } from "./src/calls/call_hub.ts";
import { configSecrets } from "./src/config.ts";
import { readEnv } from "./src/config_env.ts";
import { traceCalls } from "./src/telemetry/call_traces.ts";
import { createLogger, errorText, escapeLogText, type Logger } from "./src/log.ts";
import { PersonaLoadError } from "./src/personas/loader.ts";
import { DEV_LINKS_DIR, type PersonaWatcher, watchPersonas } from "./src/personas/watch.ts";
import { endUnderWatcher } from "./src/dev_watch.ts";
import { createParley } from "./src/app/server.ts";
import type { FrameTap } from "./src/relay/frame_tap.ts";
import { RecordingsDir } from "./src/recordings/recordings_dir.ts";
import { keepRecordingsFor } from "./src/recordings/retention.ts";
import { S3Recordings } from "./src/recordings/s3_recordings.ts";
import { type ResilientServer, serveResilient } from "./src/http/listener.ts";
import {
  inboundPersonaFollower,
  portProblem,
  type PreparedStartup,
  prepareStartup,
  StartupError,
} from "./src/startup.ts";
import { recordingsRepairProblem } from "./src/startup_folders.ts";
import { type ShutdownReport, waitForShutdown } from "./src/shutdown.ts";
import { surviveFileSizeLimit } from "./src/file_size_limit.ts";

/** What an embedding entry point adds to {@linkcode main} (the bench's tap). */
export interface MainExtras {
  /** Observers of every call's audio (`src/relay/frame_tap.ts`). */
  tap?: FrameTap;
}

/**
 * Starts Parley; resolves with how it stopped (the signal, when it came), once every call has ended
 * (drained) after SIGINT or SIGTERM. Exits 1 on a setup problem. `--watch-personas` (`deno task dev`)
 * reloads persona files in place and tells the drain it runs under Deno's `--watch`.
 */
export async function main(args: string[], extras: MainExtras = {}): Promise<ShutdownReport> {
  const fail = (problem: StartupError | string): never => {
    console.error(`❌ ${failureText(problem)}`);
    Deno.exit(1);
  };

  // The store opens during the checks, before the logger (which needs the secrets they resolve):
  // its reports reach the logger once there is one, so they are escaped and scrubbed like every line.
  const storeReports: { log?: Logger } = {};
  const onStoreError = (message: string) => {
    const text = message.replace(/^\[Realtime\] /, "");
    if (storeReports.log === undefined) console.error(`[Realtime] ${escapeLogText(text)}`);
    else storeReports.log.error(text);
  };
  // From the first write on: a write past the file size limit fails (EFBIG) instead of ending the process.
  const stopFileSizeLimit = surviveFileSizeLimit({ report: onStoreError });
  let prepared;
  try {
    prepared = await prepareStartup(readEnv(), { onStoreError });
  } catch (error) {
    if (error instanceof StartupError) fail(error);
    throw error;
  }
  const { config, personas, store, databasePath, prices } = prepared!;
  const log = createLogger({
    secrets: configSecrets(config),
  });
  storeReports.log = log;

  const recordings = new RecordingsDir(config.recordingsDir);
  let repaired: string[];
  try {
    repaired = await recordings.repair();
  } catch (error) {
    // RECORDINGS_DIR was checked before the store opened: only a sidecar the repair cannot read, or a
    // folder changed since, gets here. Reported like the checks, before the store is written to, and
    // the store closed: nothing left half-open.
    store.close();
    await store.closed;
    stopFileSizeLimit();
    return fail(new StartupError([recordingsRepairProblem(config.recordingsDir, error)]));
  }
  // Calls this instance placed that were still ringing (or awaiting their stream) when the previous run
  // stopped, placed within Twilio's longest ring: the callee may still answer, so their records stay
  // open and this run follows them again (taken up below, once the server is built). The rest close.
  const placedSince = Date.now() - MAX_RING_MS;
  const ringing = await store.calls.takeUpRingingRecords(placedSince);
  const abandoned = await store.calls.closeAbandonedRecords(
    "server_crashed",
    "the server stopped during the call (crash or kill): closed at its last event on the next start",
    { sparePlacedSince: placedSince },
  );
  if (ringing.length > 0) {
    const callSids = ringing.map((record) => record.callSid);
    log.warn(
      `Took up ${ringing.length} ringing call(s) the previous run placed (INSTANCE_ID=${config.instanceId}): ` +
        `${callSids.slice(0, 5).join(", ")}${callSids.length > 5 ? ", …" : ""}`,
    );
  }
  if (abandoned.length > 0) {
    log.warn(
      `Closed ${abandoned.length} call record(s) the previous run left open ` +
        `(reason=server_crashed, INSTANCE_ID=${config.instanceId}): ` +
        `${abandoned.slice(0, 5).join(", ")}${abandoned.length > 5 ? ", …" : ""}`,
    );
  }
  if (repaired.length > 0) {
    log.warn(
      `Repaired ${repaired.length} recording(s) the previous run left unfinished (crash or kill), ` +
        `marked "repaired": ${repaired.slice(0, 5).join(", ")}${repaired.length > 5 ? ", …" : ""}`,
    );
  }
  const bucket = config.recordingsS3 === undefined
    ? undefined
    : new S3Recordings(config.recordingsS3, recordings, log);
  if (bucket !== undefined) {
    recordings.onFinished = (info) => bucket.upload(info);
    // In the background: a bucket that answers 5xx (aws4fetch retries each request for up to ~50 s) or
    // not at all must not keep Parley from listening; a recording still in the spool is served from there.
    bucket.uploadPending().catch((error) => {
      const detail = errorText(error);
      log.error(`Cannot upload the recordings left in ${recordings.dir}: ${detail}`);
    });
  }
  const stopRetention = config.recordingRetentionDays === undefined
    ? undefined
    : keepRecordingsFor(recordings, {
      days: config.recordingRetentionDays,
      log,
      ...(bucket === undefined ? {} : { bucket }),
    });
  let server: ResilientServer | undefined;
  const hub = new CallHub((message) => log.error(message));
  // Only with OTEL_DENO: otherwise no span is built.
  const traces = config.tracing ? traceCalls(config.instanceId) : undefined;
  const offTraces = traces === undefined ? undefined : hub.subscribe(traces.listener);
  const parley = createParley({
    config,
    personas,
    log,
    hub,
    counters: createRelayCounters(),
    store: store.calls,
    afterStream: store.afterStream,
    leads: store.leads,
    campaigns: { campaigns: store.campaigns, doNotCall: store.doNotCall, instance: store.instance },
    signInSessions: store.sessions,
    usedStreamTokens: store.usedStreamTokens,
    outbox: store.outbox,
    ...(store.bus === undefined ? {} : { feeds: store.bus }),
    ...(store.control === undefined ? {} : { control: store.control }),
    ...(store.cluster === undefined ? {} : { cluster: store.cluster }),
    ...(store.analyses === undefined ? {} : { analyses: store.analyses }),
    prices,
    listenerHealth: () => server?.health(),
    ...(extras.tap === undefined ? {} : { tap: extras.tap }),
    recordings,
    ...(bucket === undefined ? {} : { recordingSource: bucket }),
  });
  // The calls the clean-up closed, and those this instance closes for a crashed peer (Postgres), ended
  // without a call.ended event: their call.ended webhooks go out and their analyses are queued now.
  const closedWithoutEvent = (callSids: readonly string[]) => {
    for (const callSid of callSids) {
      parley.webhooks?.announceEnded(callSid).catch((error) =>
        log.error(`Webhooks: could not enqueue call.ended of ${callSid}: ${errorText(error)}`)
      );
    }
    parley.analyzeEnded(callSids);
  };
  closedWithoutEvent(abandoned);
  parley.takeUpRinging(ringing);
  store.cluster?.onPeerCallsClosed(closedWithoutEvent);
  // A crashed peer's placed calls still ringing, taken over by this instance: followed here now.
  store.cluster?.onPeerRingingTakenUp((records) => parley.takeUpRinging(records));
  // Recordings a crashed run left, repaired above: their recording.ready webhooks go out now.
  parley.announceRecordings(repaired).catch((error) =>
    log.error(`Webhooks: could not enqueue recording.ready of the repaired recordings: ${errorText(error)}`)
  );

  const watchingPersonas = args.includes("--watch-personas");
  const watcher = watchingPersonas ? watchPersonaFiles(prepared!, log) : undefined;

  if (watchingPersonas) {
    // A code change under `deno task dev`: Deno stops this run 0.5 s after its SIGTERM, mid-drain, and
    // dispatches `unload` just before. Calls still live are cut, with no call.ended event (nothing
    // awaited runs after `unload`): their records are marked here as ended by server_shutdown, and the
    // next start closes them so, rather than as server_crashed, among the records it closes, whose
    // call.ended webhooks and analyses it sends (once). The SQLite adapter writes before its promise
    // settles; an adapter that cannot write in time leaves them to the next start (server_crashed).
    globalThis.addEventListener("unload", () => {
      watcher?.close(); // removes the reload links, even when the drain never finished
      const live = parley.activeCalls();
      if (live === 0) return;
      store.calls.noteCutRecords?.(
        "server_shutdown",
        "deno task dev restarted the server (a code change) during the call",
      ).catch(() => {/* the store is closed: nothing was left open */});
      log.warn(
        `Restarting (a code change): ${live} call(s) in progress cut; the next start closes their records ` +
          `with server_shutdown and sends their call.ended`,
      );
    });
  }

  // Listening for signals before the banner says we are up: a signal from then on drains.
  const stopped = waitForShutdown(parley, {
    log,
    drainTimeoutS: config.drainTimeoutS,
    underWatcher: watchingPersonas,
    leavePlacedOnRestart: config.instanceIdKept,
    // One machine (SQLite): the next start, whenever it comes, is this instance and takes them up.
    leavePlacedOnStop: config.databaseUrl === undefined && config.instanceIdKept,
  });
  try {
    server = serveResilient({
      port: config.port,
      hostname: config.host,
      log,
      onListen: ({ port }) => {
        const banner = startupBanner({
          config,
          port,
          publicUrlSource: prepared!.publicUrlSource,
          inboundPersonaSource: prepared!.inboundPersonaSource,
          personaIds: personas.ids(),
          databasePath,
          watchingPersonas,
        });
        for (const line of banner) console.log(line);
      },
    }, parley.handler);
  } catch (error) {
    // Taken between the check and now: the same one line as the check gives.
    watcher?.close();
    stopRetention?.();
    store.close();
    return fail(portProblem(config.port, error, config.host));
  }

  const report = await stopped;
  stopRetention?.();
  watcher?.close();
  // Twilio asks the <Connect action> of a call whose stream was just closed (one the shutdown cut) a
  // moment after it sees the close: the server answers it (the fallback message) until each has come, or
  // AFTER_STREAM_GRACE_MS. Not after a Ctrl-C under `deno task dev`: Deno stops the script 0.5 s after it.
  if (!(watchingPersonas && report.signal === "SIGINT")) await parley.afterStreamsRequested();
  await server!.shutdown();
  offTraces?.();
  traces?.close();
  store.close();
  await store.closed;
  stopFileSizeLimit();
  return report;
}

/**
 * `deno task dev`'s persona reloads: each reported in the log, a failed one with every problem on a line
 * of its own; with INBOUND_PERSONA unset, inbound calls follow `receptionist.ts` as at startup.
 */
function watchPersonaFiles(prepared: PreparedStartup, log: Logger): PersonaWatcher {
  const { config, personas } = prepared;
  const followInbound = inboundPersonaFollower(config, prepared.inboundPersonaSource);
  return watchPersonas(config.personasDir, {
    registry: personas,
    defaultModel: config.realtimeModel,
    linksDir: join(Deno.cwd(), DEV_LINKS_DIR),
    required: prepared.requiredPersonas,
    onReload: (ids) => {
      log.info(`Personas reloaded: ${ids.join(", ")}`);
      // A reload without receptionist.ts (INBOUND_PERSONA unset) was accepted: DEFAULT_PERSONA answers.
      const inbound = followInbound(ids);
      if (inbound !== undefined) log.info(inbound);
    },
    onError: (error) => {
      // Each problem escaped whole, then one line at a time: a line break in a field name stays in its line.
      const message = new PersonaLoadError(error.problems.map(escapeLogText)).message;
      for (const line of `${message}\n(keeping the personas loaded before)`.split("\n")) log.error(line);
    },
    onWarning: (message) => {
      for (const line of message.split("\n")) log.warn(line);
    },
  });
}

/**
 * What `❌` introduces: a {@linkcode StartupError}'s lines, each problem escaped as the logger escapes a
 * line (a field or file name from a persona file can hold a line break, an escape sequence or a bidi
 * control), or one problem line, escaped.
 */
function failureText(problem: StartupError | string): string {
  return typeof problem === "string"
    ? escapeLogText(problem)
    : new StartupError(problem.problems.map(escapeLogText)).message;
}

if (import.meta.main) {
  const { signal, signalAt } = await main(Deno.args);
  // Under `deno task dev` a code change is a SIGTERM too: see src/dev_watch.ts.
  if (Deno.args.includes("--watch-personas")) await endUnderWatcher(signal, signalAt);
  Deno.exit(0);
}
