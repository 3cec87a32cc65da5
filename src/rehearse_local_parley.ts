/**
 * The Parley `deno task rehearse` starts itself when it has no `--url`: on 127.0.0.1 (a free port),
 * with the personas of PERSONAS_DIR and the call database of DATA_DIR, under an instance name of the
 * run's own (`rehearsal/rehearsal_instances.ts`). Closing it ends the calls in progress
 * (`server_shutdown`), closes their records and writes what the store still holds.
 *
 * @module
 */

import { createRelayCounters } from "./calls/relay_counters.ts";
import { CallHub } from "./calls/call_hub.ts";
import { configSecrets, type ParleyConfig } from "./config.ts";
import type { Env } from "./config_env.ts";
import type { resolvePrices } from "./engines/prices.ts";
import { createLogger, errorText, type Logger } from "./log.ts";
import { callDatabaseProblem } from "./startup_folders.ts";
import { createPersonaRegistry, loadPersonas } from "./personas/loader.ts";
import { scenarioContext } from "./rehearsal/setup.ts";
import type { ScenarioContext } from "./rehearsal/validate.ts";
import type { ParleyTarget } from "./rehearsal/virtual_phone.ts";
import { createParley } from "./app/server.ts";
import { callDatabasePath } from "./store/sqlite/call_store.ts";
import { openSqliteStore } from "./store/sqlite/store.ts";
import { RecordingsDir } from "./recordings/recordings_dir.ts";
import { S3Recordings } from "./recordings/s3_recordings.ts";
import {
  closeLeftoverRecords,
  LEFTOVER_END_REASON,
  rehearsalInstanceId,
} from "./rehearsal/rehearsal_instances.ts";

/** The public URL the in-process Parley pretends to have: the virtual phone signs for it. */
export const LOCAL_PUBLIC_URL = "https://rehearsal.localhost";

/** DATA_DIR cannot hold the rehearsal's call database: the message names it and what to do. */
export class DataDirError extends Error {
  override name = "DataDirError";
}

/** The Parley started here. */
export interface LocalParley {
  target: ParleyTarget;
  context: ScenarioContext;
  /** This run's instance name, `<INSTANCE_ID>.rehearse-<8 hex>`. */
  instanceId: string;
  /** Calls being relayed now. */
  activeCalls(): number;
  /** Ends the calls in progress and closes everything; a second call waits for the first. */
  close(): Promise<void>;
}

/**
 * The environment of the in-process Parley: the user's, with its own signing and API tokens, and
 * without the Twilio account (it places no call, so `.env.example`'s placeholders there are harmless).
 */
export function localEnv(env: Env): Env {
  const {
    TWILIO_SIGNATURE_CHECK: _check,
    NGROK_API_URL: _ngrok,
    TWILIO_ACCOUNT_SID: _account,
    TWILIO_PHONE_NUMBER: _number,
    ...rest
  } = env;
  return {
    ...rest,
    PUBLIC_BASE_URL: LOCAL_PUBLIC_URL,
    TWILIO_AUTH_TOKEN: crypto.randomUUID(),
    API_TOKEN: env.API_TOKEN ?? crypto.randomUUID(),
  };
}

/**
 * Starts Parley on 127.0.0.1 for a rehearsal.
 *
 * @throws {PersonaLoadError} for personas it cannot load; {@linkcode DataDirError} for a DATA_DIR it
 * cannot use.
 */
export async function startLocalParley(
  config: ParleyConfig,
  prices: ReturnType<typeof resolvePrices>,
  verbose: boolean,
): Promise<LocalParley> {
  const personas = createPersonaRegistry(
    await loadPersonas(config.personasDir, { defaultModel: config.realtimeModel }),
  );
  // An instance name of the run's own: a server started on the same DATA_DIR closes only its own open
  // records at startup, never a rehearsal's still running; and the rehearsal's workers (analyses,
  // webhooks) claim and put back only their own work, never the server's or another rehearsal's.
  const instanceId = rehearsalInstanceId(config.instanceId);
  const log = createLogger({
    secrets: configSecrets(config),
    sink: (level, line) => {
      if (verbose || level === "warn" || level === "error") console.error(line);
    },
  });
  const store = openStore(config, instanceId, prices, log);
  const { recordings, bucket, uploads } = recordingsOf(config, log);
  const parley = createParley({
    config: { ...config, instanceId, publicBaseUrl: LOCAL_PUBLIC_URL },
    personas,
    log,
    hub: new CallHub((message) => log.error(message)),
    counters: createRelayCounters(),
    store: store.calls,
    afterStream: store.afterStream,
    usedStreamTokens: store.usedStreamTokens,
    // Personas with `analysis` get their outcome, which the scenarios' `outcome` checks read.
    ...(store.analyses === undefined ? {} : { analyses: store.analyses }),
    prices,
    recordings,
    ...(bucket === undefined ? {} : { recordingSource: bucket }),
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, parley.handler);
  let closing: Promise<void> | undefined;
  return {
    target: {
      origin: `http://127.0.0.1:${server.addr.port}`,
      publicBaseUrl: LOCAL_PUBLIC_URL,
      authToken: config.twilioAuthToken!,
      apiToken: config.apiToken,
    } satisfies ParleyTarget,
    context: scenarioContext(personas, config.realtimeModel),
    instanceId,
    activeCalls: () => parley.activeCalls(),
    close() {
      closing ??= (async () => {
        await parley.shutdown(); // the calls in progress ended, the recordings' last writes included
        await Promise.all(uploads);
        await server.shutdown();
        store.close(); // writes what is still queued
      })();
      return closing;
    },
  };
}

/** Opens DATA_DIR's call database under `instanceId`, closing what killed rehearsals left open. */
function openStore(
  config: ParleyConfig,
  instanceId: string,
  prices: ReturnType<typeof resolvePrices>,
  log: Logger,
): ReturnType<typeof openSqliteStore> {
  const databasePath = callDatabasePath(config.dataDir);
  let store: ReturnType<typeof openSqliteStore>;
  try {
    store = openSqliteStore(databasePath, { instance: instanceId, prices });
  } catch (error) {
    throw new DataDirError(callDatabaseProblem(databasePath, errorText(error)), { cause: error });
  }
  try {
    const closed = closeLeftoverRecords({
      databasePath,
      instanceId: config.instanceId,
      ownInstance: instanceId,
    });
    if (closed.length > 0) {
      log.warn(
        `Closed ${closed.length} call record(s) an earlier rehearsal left open (killed during the ` +
          `call, silent since; reason=${LEFTOVER_END_REASON}): ` +
          `${closed.slice(0, 5).join(", ")}${closed.length > 5 ? ", …" : ""}`,
      );
    }
  } catch (error) {
    log.warn(`Could not close the call records earlier rehearsals left open: ${errorText(error)}`);
  }
  return store;
}

/**
 * Personas with `record: true` are recorded as the server records them: RECORDINGS_DIR, then the
 * bucket of RECORDINGS_S3_URL when set (uploads finish before the rehearsal exits).
 */
function recordingsOf(config: ParleyConfig, log: Logger) {
  const recordings = new RecordingsDir(config.recordingsDir);
  const bucket = config.recordingsS3 === undefined
    ? undefined
    : new S3Recordings(config.recordingsS3, recordings, log);
  const uploads: Promise<void>[] = [];
  if (bucket !== undefined) {
    recordings.onFinished = (info) => {
      const upload = bucket.upload(info);
      uploads.push(upload);
      return upload;
    };
  }
  return { recordings, bucket, uploads };
}
