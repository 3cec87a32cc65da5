/**
 * What the route handlers are built from: the server's parts (config, personas, the bus, admission,
 * relays, the store's ports), as `server.ts` hands them to `handlers.ts`.
 *
 * @module
 */

import type { Admission } from "../calls/admission.ts";
import type { RelayCounters } from "../calls/relay_counters.ts";
import type { CallHub } from "../calls/call_hub.ts";
import type { NeverConnectedWatch } from "../calls/never_connected.ts";
import type { ParleyConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { LiveRelays } from "../relay/live_relays.ts";
import type { Prewarms } from "../relay/prewarm.ts";
import type { StreamTokens } from "../twilio/stream_token.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Sessions } from "../http/session.ts";
import type { PriceTable } from "../engines/prices.ts";
import type { UpstreamConnector } from "../engines/upstream_socket.ts";
import type {
  AfterStreamDecisions,
  AnalysisJobs,
  CallRecords,
  Campaigns,
  ClusterView,
  DoNotCallList,
  EventBus,
  Leads,
} from "../store/ports.ts";
import type { ListenerHealth } from "../http/listener.ts";
import type { Webhooks } from "../outcomes/webhooks/webhooks.ts";
import type { CallControl } from "../calls/call_control.ts";
import type { RecordingSource } from "../recordings/serve_wav.ts";

/** What the campaign dialer runs over. */
export interface DialerParts {
  campaigns: Campaigns;
  doNotCall: DoNotCallList;
  /** INSTANCE_ID: its claims carry it. */
  instance: string;
  /** How often it looks for due leads, ms (0: only when told). @default 250 */
  tickMs?: number;
  /** Its clock, epoch ms (windows, retries, pacing). @default Date.now */
  now?: () => number;
}

/** What the handlers are built from. */
export interface HandlerParts {
  config: ParleyConfig & { publicBaseUrl: string };
  personas: PersonaRegistry;
  hub: CallHub;
  log: Logger;
  counters: RelayCounters;
  metrics: Metrics;
  admission: Admission;
  relays: LiveRelays;
  prewarms: Prewarms;
  /** The watch of calls whose stream has not started: a user's hang-up of one is its to end. */
  neverConnected: Pick<NeverConnectedWatch, "userHangingUp" | "userHungUp" | "userHangUpFailed">;
  tokens: StreamTokens;
  sessions: Sessions;
  /** Aborted on shutdown: ends the live feeds (SSE). */
  shutdownSignal: AbortSignal;
  /** The call records, if records are kept. */
  store?: CallRecords;
  /** Where the `<Connect action>` reads decisions this process does not remember. */
  afterStream?: AfterStreamDecisions;
  /** How long the `<Connect action>` waits for a pending or unreadable decision, ms. @default 3000 */
  afterStreamWaitMs?: number;
  /** The leads, if leads are kept. */
  leads?: Leads;
  /** Post-call analyses, joined to the records as `outcome`. */
  analyses?: AnalysisJobs;
  /** Campaigns and the do-not-call list (every store keeps them; absent only without a store): the dialer runs over them. */
  campaigns?: DialerParts;
  /** Where a call's live feed (SSE) hears its events: the store's bus across instances. @default hub */
  feeds?: Pick<EventBus, "subscribe">;
  /** Commands to the instance running a call (several instances on Postgres). */
  control?: CallControl;
  /** The cluster's figures for `/metrics` (several instances on Postgres). */
  cluster?: ClusterView;
  /** Where the call recordings are read. */
  recordings?: RecordingSource;
  /** Used for Twilio's REST API. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** The listener's figures (descriptor exhaustion), for `/metrics`. */
  listenerHealth?: () => ListenerHealth | undefined;
  /** The webhook outbox and worker, if the store keeps an outbox. */
  webhooks?: Webhooks;
  /** Prices for a rehearsal's cost. */
  prices: PriceTable;
  /** Opens upstream sockets (a rehearsal's caller sessions). */
  connectUpstream: UpstreamConnector;
  /** Where this server is reached on this machine, for the Rehearse button's virtual phone. */
  selfOrigin: () => string;
  /** The folder of scenario files. @default "scenarios" */
  scenariosDir?: string;
  /** Close a media socket that sends no frame for this long, ms. @default MEDIA_SILENCE_MS (30 s) */
  mediaSilenceMs?: number;
}
