/**
 * The JSON the API answers with, as its readers rely on it: one module for the server handlers (their
 * bodies are checked against it with `satisfies`) and the pages in `src/web/` (JSDoc
 * `@typedef {import("../api/types.ts").CallRecord} CallRecord`, checked with the DOM library by
 * `deno task check`).
 *
 * It imports nothing, so the browser check does not pull in server modules. Enum-like fields (a
 * call's status, end reason, engine) are plain strings here: the pages show an unknown value as
 * words rather than fail on it. Times are epoch milliseconds.
 *
 * @module
 */

/** Any 4xx/5xx answer: what is wrong and, for a bad field of a body, which one. */
export interface ApiErrorBody {
  error: string;
  field?: string;
}

/** One line of a call's conversation. */
export interface TranscriptLine {
  at: number;
  speaker: "caller" | "agent";
  text: string;
  /** Agent lines only: the caller cut in after this many ms of the answer. */
  interruptedAtMs: number | null;
}

/** Latency of one agent turn, from the end of the caller's speech. */
export interface TurnLatency {
  at: number;
  firstAudioSentMs: number;
  /** Null when Twilio never confirmed playback. */
  firstAudioHeardMs: number | null;
}

/** One status callback from Twilio. */
export interface StatusChange {
  at: number;
  /** Twilio's call status (`ringing`, `busy`, …). */
  status: string;
  /** The callback's details, `Name=value` pairs. */
  detail: string;
}

/** One tool call of the model. */
export interface ToolCallRecord {
  at: number;
  callId: string;
  name: string;
  /** The arguments as sent, truncated to 200 characters. */
  arguments: string;
  /** `ok`, or why the model was told it failed. */
  status: string;
  resultBytes: number;
  durationMs: number;
}

/** A call's latency percentiles. */
export interface LatencySummary {
  turns: number;
  p50Ms: number;
  p95Ms: number;
}

/** One call as `GET /api/calls` lists it. */
export interface CallSummary {
  callSid: string;
  persona: string | null;
  model: string | null;
  engine: string | null;
  /** `inbound`, `outbound-api`, `browser` (the softphone), … */
  direction: string | null;
  /** What the call came through: `phone`, `softphone` (the Talk button) or `rehearsal`. */
  source: string;
  from: string | null;
  to: string | null;
  parameters: Record<string, string>;
  /** Latest Twilio status. */
  status: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  endReason: string | null;
  endDetail: string | null;
  /** USD, the post-call analysis's included, or null when a model had no price. */
  costUsd: number | null;
  /** The post-call analysis, when the persona declares one (README, "Outcomes"). */
  outcome: CallOutcome | null;
}

/** A call's post-call analysis: where it is, and once done, the outcome in the persona's schema. */
export interface CallOutcome {
  /** `pending` (waiting for a try), `running`, `done` or `failed`. */
  state: "pending" | "running" | "done" | "failed";
  /** The outcome, fitting the persona's schema, once `done`. */
  result: Record<string, unknown> | null;
  /** Why the last try failed (a retry's reason, or the final one when `failed`). */
  error: string | null;
  attempts: number;
  model: string;
  /** The analysis's own cost, USD (also in the call's `costUsd`). */
  costUsd: number | null;
  /** When it last changed, epoch ms. */
  updatedAt: number;
}

/** `GET /api/calls`. */
export interface CallList {
  calls: CallSummary[];
}

/** `GET /api/calls/:callSid`, and the `snapshot` event of its live feed. */
export interface CallRecord extends CallSummary {
  statuses: StatusChange[];
  transcript: TranscriptLine[];
  turns: TurnLatency[];
  latency: LatencySummary | null;
  toolCalls: ToolCallRecord[];
  /**
   * The call's recording (personas with `record: true`), in `GET /api/calls/:callSid` only: null when
   * there is none.
   */
  recording?: RecordingSummary | null;
}

/** A call's recording, as `GET /api/calls/:callSid` describes it. */
export interface RecordingSummary {
  /** `recording` while the call goes on; `repaired` when a crash left it and startup fixed it. */
  state: "recording" | "complete" | "repaired";
  /** Its length, ms (null while recording). */
  durationMs: number | null;
  /** Where to fetch it (`audio/wav`, byte ranges). */
  url: string;
}

/**
 * The data of the events the pages read from `GET /api/calls/:callSid/events`, by event name (the
 * feed sends other events too). Each event also carries `type`, `at` and `callSid`.
 */
export interface CallFeedEvents {
  snapshot: CallRecord;
  "call.status": { at: number; status: string; detail: string };
  "call.started": { at: number };
  transcript: {
    at: number;
    speaker: "caller" | "agent";
    text: string;
    /** Agent lines the caller cut off only. */
    interruptedAtMs?: number;
  };
  "turn.latency": {
    at: number;
    firstAudioSentMs: number;
    /** Absent when Twilio never confirmed playback. */
    firstAudioHeardMs?: number | undefined;
  };
  "tool.called": ToolCallRecord;
  /**
   * A usage report was counted (an answer's tokens, or GPT-Live's session time so far): the record's
   * cost has changed. `engine` says whose; its `usage` payload is that engine's own shape.
   */
  usage: { at: number; engine: string };
  "call.ended": { at: number; reason: string; detail: string };
}

/** `POST /api/calls` → 201. */
export interface PlacedCall {
  callSid: string;
  persona: string;
  /** The voice asked for, when one was. */
  voice?: string;
}

/** `POST /api/calls/:callSid/hangup`: how the call was ended. */
export interface HungUpCall {
  callSid: string;
  via: "stream" | "twilio";
}

/** A lead, as stored. */
export interface Lead {
  id: number;
  name: string;
  /** E.164. */
  phone: string;
  company: string;
  notes: string;
  /** Free fields; they become call parameters. */
  fields: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

/** `GET /api/leads`. */
export interface LeadList {
  leads: Lead[];
  /** The `after` cursor of the next page; null on the last page. */
  next: string | null;
  /** Leads in all pages. */
  total: number;
}

/** One call of a lead. */
export interface LeadCall {
  callSid: string;
  createdAt: number;
  persona: string | null;
  direction: string | null;
  status: string | null;
  endReason: string | null;
}

/** `GET /api/leads/:id`. */
export interface LeadWithCalls extends Lead {
  calls: LeadCall[];
}

/** One problem with one field of one lead. */
export interface LeadProblem {
  /** The CSV line (imports only). */
  line?: number;
  field: string;
  message: string;
}

/** `POST /api/leads/import` → 201, or 207 when some rows were refused. */
export interface LeadImport {
  imported: Lead[];
  updated: Lead[];
  /** Rows whose phone number repeats an earlier line or an existing lead (at most `limits.maxReported`). */
  duplicates: LeadDuplicate[];
  /** At most `limits.maxReported`. */
  errors: LeadProblem[];
  counts: {
    rows: number;
    imported: number;
    updated: number;
    skipped: number;
    duplicates: number;
    errors: number;
  };
  limits: { maxRows: number; maxReported: number; maxBytes: number };
  onDuplicate: "skip" | "update";
}

/** One duplicate row of an import: its line, its number, and the earlier line or existing lead it repeats. */
export interface LeadDuplicate {
  line: number;
  phone: string;
  action: "skipped" | "updated";
  /** The file's earlier line with this number. */
  sameAsLine?: number;
  /** The existing lead with this number. */
  existingLead?: number;
}

/** A persona as `GET /api/personas` and `GET /api/personas/:id` describe it. */
export interface PersonaSummary {
  id: string;
  description: string;
  engine: string;
  model: string;
  voice: string;
  greeting: string | null;
  problems: string[];
  valid: boolean;
}

/** `GET /api/personas`. */
export interface PersonaList {
  personas: PersonaSummary[];
}

/** A tool offered to the model. */
export interface ToolSpec {
  name: string;
  description: string;
  /** JSON schema of the arguments (an object schema). */
  parameters: Record<string, unknown>;
}

/** `GET /api/personas/:id/preview`: what a call would send. */
export interface PersonaPreview extends PersonaSummary {
  parameters: Record<string, string>;
  /** The rendered script, or null when rendering failed (see `problems`). */
  instructions: string | null;
  /** The messages sent upstream when the stream starts, in order. */
  openingMessages: unknown[];
  tools: ToolSpec[];
}

/** One voice of an engine. */
export interface Voice {
  id: string;
  /** How it sounds, or null when OpenAI does not say. */
  label: string | null;
  gender: string | null;
  labelSource: string | null;
}

/** `GET /api/voices?engine=`. */
export interface VoiceList {
  engine: string;
  voices: Voice[];
}

/** One attempt at delivering a webhook. */
export interface WebhookAttempt {
  at: number;
  /** The instance (`INSTANCE_ID`) that made it. */
  instance: string;
  /** The receiver's HTTP status, or null when none came (refused, timeout). */
  status: number | null;
  /** Why it failed, or null. */
  error: string | null;
  durationMs: number;
}

/** One webhook message and its delivery. */
export interface WebhookDelivery {
  /** The `webhook-id` (stable: retries and redeliveries carry the same). */
  id: string;
  /** `call.started`, `call.ended`, `call.analyzed`, `recording.ready`. */
  type: string;
  callSid: string | null;
  createdAt: number;
  /** `pending`, `delivered` or `failed`. */
  state: string;
  attempts: number;
  /** When the next attempt is due (pending only). */
  nextTryAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  /** A failing message is given up (`failed`) after this time. */
  expiresAt: number;
  attemptLog: WebhookAttempt[];
}

/** `GET /api/webhooks/deliveries?callSid=&limit=`: newest first. */
export interface WebhookDeliveryList {
  /** True when `WEBHOOK_URL` is set (else the log shows what earlier runs sent). */
  enabled: boolean;
  deliveries: WebhookDelivery[];
}

/** `POST /api/webhooks/deliveries/:id/redeliver`: the message, due now. */
export interface WebhookRedelivery {
  delivery: WebhookDelivery;
}

/** One check of a rehearsal run, as `POST /api/personas/:id/rehearse` reports it. */
export interface RehearsalCheck {
  name: string;
  /** `passed`, `failed` or `skipped`. */
  status: string;
  /** Why, in plain words. */
  reason: string;
}

/** One rehearsal run (one call): the `run` event of `POST /api/personas/:id/rehearse`. */
export interface RehearsalRun {
  /** The scenario's id (its file name). */
  scenario: string;
  /** From 1. */
  run: number;
  /** Absent when the call never got one (the webhook refused it). */
  callSid?: string | undefined;
  /** The call's page. */
  callUrl?: string | undefined;
  passed: boolean;
  checks: RehearsalCheck[];
  /** Turn latencies (heard, else sent), ms. */
  latenciesMs: number[];
  /** USD of the agent's call, the caller session and the judge; null when any is unknown. */
  costUsd: number | null;
}

/** One scenario's summary in the `done` event. */
export interface RehearsalScenarioSummary {
  scenario: string;
  persona: string;
  runs: number;
  passedRuns: number;
  minPassRate: number;
  /** The pass rate reached `minPassRate`. */
  passed: boolean;
  /** Turn latency percentiles over every run's turns, ms; null without turns. */
  latency: { p50Ms: number; p95Ms: number } | null;
  costUsd: number | null;
  /** The runs that failed. */
  failures: RehearsalRun[];
  /** Checks skipped in some run, with why. */
  skipped: { name: string; reason: string }[];
}

/**
 * The server-sent events of `POST /api/personas/:id/rehearse`, by event name: `start` once, a `run`
 * per finished call, then `done`; or `problem` when nothing could run.
 */
export interface RehearseEvents {
  start: { scenarios: { id: string; description: string; runs: number }[] };
  run: RehearsalRun;
  done: { scenarios: RehearsalScenarioSummary[]; passed: boolean; costUsd: number | null };
  problem: { message: string };
}

/** A campaign as `GET /api/campaigns/:id` answers it (`src/api/campaigns.ts`). */
export interface CampaignView {
  id: number;
  name: string;
  persona: string;
  voice?: string;
  state: "draft" | "running" | "paused" | "waiting" | "finished" | "stopped";
  window: { timezone: string; days: string[]; start: string; end: string };
  maxConcurrent: number;
  callsPerSecond: number;
  retry: Record<string, { after: number; max: number }>;
  machineDetection: boolean;
  createdAt: number;
  updatedAt: number;
  /** How many leads it has. */
  leads: number;
  counts: {
    byState: Record<string, number>;
    byDisposition: Record<string, number>;
    skipped: Record<string, number>;
    attempts: number;
  };
  /** When the earliest waiting lead is due (epoch ms), or null. */
  nextTryAt: number | null;
  inProgress: { callSid: string | null; phone: string | null; attempt: number }[];
}

/** `GET /api/campaigns`. */
export interface CampaignList {
  campaigns: CampaignView[];
}

/** One row of `GET /api/campaigns/:id/calls`: an attempt, or a skipped lead (`skipped`, attempt 0). */
export interface CampaignCall {
  campaignLeadId: number;
  leadId: number | null;
  name: string;
  phone: string;
  attempt: number;
  callSid: string | null;
  startedAt?: number;
  endedAt?: number | null;
  disposition?: string | null;
  detail?: string;
  /** The call's post-call analysis (attempts only): null while it has none. */
  outcome?: CallOutcome | null;
  skipped?: string | null;
}

/** `GET /api/dnc`. */
export interface DoNotCallList {
  numbers: { phone: string; source: string; addedAt: number }[];
}
