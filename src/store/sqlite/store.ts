/**
 * The SQLite adapter: every port of `../ports.ts` over the call database in `DATA_DIR`
 * (`parley.db`), with sign-in sessions and used stream tokens in process memory, as one instance
 * has always kept them.
 *
 * @module
 */

import type { PriceTable } from "../../engines/prices.ts";
import { createMemorySignInSessions } from "../../http/session.ts";
import { createMemoryUsedStreamTokens } from "../../twilio/stream_token.ts";
import type { Store } from "../ports.ts";
import { openCallStore } from "./call_store.ts";
import { openLeadStore } from "./leads.ts";
import { openCampaignStore } from "./campaigns.ts";
import { openAnalysisStore } from "./analyses.ts";
import { openSqliteWebhookOutbox } from "./webhook_outbox.ts";

/** Options for {@linkcode openSqliteStore}. */
export interface SqliteStoreOptions {
  /** This process's `INSTANCE_ID`. */
  instance: string;
  /** Prices for the records' `costUsd`. @default DEFAULT_PRICES */
  prices?: PriceTable;
  /** Where write failures are reported. @default console.error */
  onError?: (message: string) => void;
}

/**
 * Opens (creating folder, file and schema on first run) the SQLite store at `path`.
 *
 * @example
 * ```ts
 * const store = openSqliteStore(callDatabasePath(config.dataDir), { instance: config.instanceId });
 * await store.calls.closeAbandonedRecords("server_crashed", "…");
 * // … on shutdown:
 * store.close();
 * ```
 * @throws {Error} when the file cannot be opened or its schema is newer than this build.
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions): Store {
  const calls = openCallStore(path, {
    instance: options.instance,
    ...(options.prices === undefined ? {} : { prices: options.prices }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
  });
  let leads;
  let outbox;
  try {
    leads = openLeadStore(path);
    outbox = openSqliteWebhookOutbox(path);
  } catch (error) {
    calls.close();
    leads?.close();
    throw error;
  }
  let campaigns;
  try {
    campaigns = openCampaignStore(path);
  } catch (error) {
    calls.close();
    leads.close();
    outbox.close();
    throw error;
  }
  let analyses;
  try {
    analyses = openAnalysisStore(path);
  } catch (error) {
    calls.close();
    leads.close();
    outbox.close();
    campaigns.close();
    throw error;
  }
  let closed = false;
  return {
    instance: options.instance,
    calls,
    leads,
    sessions: createMemorySignInSessions(),
    usedStreamTokens: createMemoryUsedStreamTokens(),
    afterStream: calls,
    outbox,
    campaigns,
    doNotCall: campaigns.doNotCall,
    analyses,
    close() {
      // Closing twice is a no-op (a caller may close early; its owner closes again).
      if (closed) return;
      closed = true;
      calls.close();
      leads.close();
      outbox.close();
      campaigns.close();
      analyses.close();
    },
  };
}
