/**
 * The call database's schema as an ordered list of migrations. `PRAGMA user_version` holds how many
 * have run; opening a database runs the missing ones, each in its own transaction. Append new
 * migrations at the end; never edit one that has shipped.
 *
 * Times are epoch milliseconds; `parameters` is a JSON object of strings.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

/** Migration `i` brings the schema from version `i` to `i + 1`. */
export const MIGRATIONS: readonly string[] = [
  // 1: the call record.
  `
  CREATE TABLE calls (
    call_sid TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    stream_sid TEXT,
    persona TEXT,
    model TEXT,
    direction TEXT,
    from_number TEXT,
    to_number TEXT,
    parameters TEXT NOT NULL DEFAULT '{}',
    status TEXT,
    started_at INTEGER,
    upstream_connect_ms REAL,
    session_configured_at INTEGER,
    ended_at INTEGER,
    end_reason TEXT,
    end_detail TEXT,
    input_text_tokens INTEGER NOT NULL DEFAULT 0,
    input_audio_tokens INTEGER NOT NULL DEFAULT 0,
    input_cached_tokens INTEGER NOT NULL DEFAULT 0,
    output_text_tokens INTEGER NOT NULL DEFAULT 0,
    output_audio_tokens INTEGER NOT NULL DEFAULT 0,
    responses INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    unpriced_responses INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE INDEX calls_created_at ON calls (created_at);
  CREATE INDEX calls_persona_created_at ON calls (persona, created_at);

  CREATE TABLE call_statuses (
    id INTEGER PRIMARY KEY,
    call_sid TEXT NOT NULL REFERENCES calls (call_sid),
    at INTEGER NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL
  ) STRICT;
  CREATE INDEX call_statuses_call ON call_statuses (call_sid, id);

  CREATE TABLE transcript (
    id INTEGER PRIMARY KEY,
    call_sid TEXT NOT NULL REFERENCES calls (call_sid),
    at INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    text TEXT NOT NULL,
    interrupted_at_ms REAL
  ) STRICT;
  CREATE INDEX transcript_call ON transcript (call_sid, id);

  CREATE TABLE turn_latencies (
    id INTEGER PRIMARY KEY,
    call_sid TEXT NOT NULL REFERENCES calls (call_sid),
    at INTEGER NOT NULL,
    first_audio_sent_ms REAL NOT NULL,
    first_audio_heard_ms REAL
  ) STRICT;
  CREATE INDEX turn_latencies_call ON turn_latencies (call_sid, id);

  CREATE TABLE interruptions (
    id INTEGER PRIMARY KEY,
    call_sid TEXT NOT NULL REFERENCES calls (call_sid),
    at INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    audio_end_ms REAL NOT NULL,
    clear_latency_ms REAL NOT NULL
  ) STRICT;
  CREATE INDEX interruptions_call ON interruptions (call_sid, id);

  CREATE TABLE usage (
    id INTEGER PRIMARY KEY,
    call_sid TEXT NOT NULL REFERENCES calls (call_sid),
    at INTEGER NOT NULL,
    model TEXT NOT NULL,
    response_id TEXT NOT NULL,
    input_text_tokens INTEGER NOT NULL,
    input_audio_tokens INTEGER NOT NULL,
    input_cached_tokens INTEGER NOT NULL,
    output_text_tokens INTEGER NOT NULL,
    output_audio_tokens INTEGER NOT NULL,
    cost_usd REAL
  ) STRICT;
  CREATE INDEX usage_call ON usage (call_sid, id);
  `,
  // 2: which engine served the call; session minutes (GPT-Live is billed by the minute); the most
  // agent audio left unplayed at Twilio when the model stopped speaking (GPT-Live owns barge-in).
  `
  ALTER TABLE calls ADD COLUMN engine TEXT;
  ALTER TABLE calls ADD COLUMN minutes REAL NOT NULL DEFAULT 0;
  ALTER TABLE calls ADD COLUMN max_unplayed_ms REAL;
  `,
  // 3: leads for the calling page; `fields` is a JSON object of strings that become call parameters.
  `
  CREATE TABLE leads (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    company TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    fields TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX leads_phone ON leads (phone);
  CREATE INDEX calls_to_number ON calls (to_number);
  `,
  // 4: agent actions. What Twilio does after the stream (the <Connect action> answer: hangup,
  // dial, fallback) and the transfer target, kept so any instance answers it after a restart; one
  // row per tool call.
  `
  ALTER TABLE calls ADD COLUMN after_stream TEXT;
  ALTER TABLE calls ADD COLUMN transfer_target TEXT;
  CREATE TABLE tool_calls (
    id INTEGER PRIMARY KEY,
    call_sid TEXT NOT NULL REFERENCES calls (call_sid),
    at INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    name TEXT NOT NULL,
    arguments TEXT NOT NULL,
    status TEXT NOT NULL,
    result_bytes INTEGER NOT NULL,
    duration_ms REAL NOT NULL
  );
  CREATE INDEX tool_calls_call ON tool_calls (call_sid, id);
  `,
  // 5: upstream sessions replaced mid-call (drop, stall, rollover) and the longest gap; caller frames
  // dropped, by reason (a JSON object of counts).
  `
  ALTER TABLE calls ADD COLUMN reconnects INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE calls ADD COLUMN max_reconnect_gap_ms INTEGER;
  ALTER TABLE calls ADD COLUMN caller_frames_dropped TEXT;
  `,
  // 6: the per-call heartbeat (`heartbeat.ts`): when a running call was last known alive, so a record
  // a crash left open ends near the crash.
  `
  ALTER TABLE calls ADD COLUMN alive_at INTEGER;
  `,
  // 7: the instance (INSTANCE_ID) that runs each call, and the position of the last event applied
  // (a live feed resumes after it). Records from before stay unnamed (NULL).
  `
  ALTER TABLE calls ADD COLUMN instance TEXT;
  ALTER TABLE calls ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX calls_open_instance ON calls (instance) WHERE ended_at IS NULL;
  `,
  // 8: what the call came through: 'phone', 'softphone' or 'rehearsal'.
  `
  ALTER TABLE calls ADD COLUMN source TEXT NOT NULL DEFAULT 'phone';
  `,
  // 9: the webhook outbox: one row per message (its stable id is the `webhook-id` header), the
  // delivery state, and the lease an instance holds while it sends (`claimed_by` until
  // `lease_until`); one row per attempt.
  `
  CREATE TABLE webhook_outbox (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    call_sid TEXT,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    delivered_at INTEGER,
    claimed_by TEXT,
    lease_until INTEGER
  ) STRICT;
  CREATE INDEX webhook_outbox_due ON webhook_outbox (next_try_at) WHERE state = 'pending';
  CREATE INDEX webhook_outbox_call ON webhook_outbox (call_sid, created_at);
  CREATE INDEX webhook_outbox_created ON webhook_outbox (created_at);
  CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES webhook_outbox (id),
    at INTEGER NOT NULL,
    instance TEXT NOT NULL,
    status INTEGER,
    error TEXT,
    duration_ms REAL NOT NULL
  ) STRICT;
  CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, id);
  `,
  // 10: campaigns (src/dialer/): the campaign; one row per lead it calls (state pending, dialing, done
  // or skipped; attempts; next try; the instance that claimed it); one row per attempt; and the
  // do-not-call list. JSON columns: `parameters`, `window`, `retry`, `fields`.
  `
  CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    persona TEXT NOT NULL,
    voice TEXT,
    parameters TEXT NOT NULL DEFAULT '{}',
    window TEXT NOT NULL,
    max_concurrent INTEGER NOT NULL,
    calls_per_second REAL NOT NULL,
    retry TEXT NOT NULL,
    machine_detection INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE campaign_leads (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    lead_id INTEGER,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    timezone TEXT,
    fields TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at INTEGER NOT NULL DEFAULT 0,
    disposition TEXT,
    skip_reason TEXT,
    claimed_by TEXT
  ) STRICT;
  CREATE INDEX campaign_leads_due ON campaign_leads (campaign_id, state, next_try_at);
  CREATE TABLE campaign_attempts (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    campaign_lead_id INTEGER NOT NULL REFERENCES campaign_leads (id),
    attempt INTEGER NOT NULL,
    call_sid TEXT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    disposition TEXT,
    detail TEXT NOT NULL DEFAULT ''
  ) STRICT;
  CREATE INDEX campaign_attempts_campaign ON campaign_attempts (campaign_id, id);
  CREATE INDEX campaign_attempts_call ON campaign_attempts (call_sid);
  CREATE TABLE do_not_call (
    phone TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    added_at INTEGER NOT NULL
  ) STRICT;
  `,
  // 11: taken by work merged beside this (issue 20); the merge puts theirs here.
  ``,
  // 12: post-call analyses (src/analysis/): one row per call, its state (pending, running, done,
  // failed), attempts, next try and claim; the spec (JSON: persona, model, schema, instructions) and,
  // once done, the outcome (JSON), tokens and cost.
  `
  CREATE TABLE analyses (
    call_sid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at INTEGER NOT NULL,
    claimed_by TEXT,
    claimed_until INTEGER,
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    error TEXT,
    outcome TEXT,
    usage TEXT,
    cost_usd REAL
  ) STRICT;
  CREATE INDEX analyses_due ON analyses (state, next_try_at);
  `,
  // 13: campaigns across instances (src/dialer/): `campaigns.next_dial_at`, the campaign's next dial
  // slot (its callsPerSecond pace, claimed in the store so it holds for every instance at once), and
  // `campaign_leads.requested_at`, when a call request for the lead went to Twilio with its answer never
  // noted (a timeout, a crash): Twilio is asked about that call before the lead is dialled again.
  `
  ALTER TABLE campaigns ADD COLUMN next_dial_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE campaign_leads ADD COLUMN requested_at INTEGER;
  `,
  // 14: the post-call analysis's own cost, kept on the call (its `costUsd` adds it): USD, and 1 when
  // the analysis's model has no price (the call's cost then reads unknown). Analyses done before are
  // copied in, so their calls' costs read as they did.
  `
  ALTER TABLE calls ADD COLUMN analysis_cost_usd REAL NOT NULL DEFAULT 0;
  ALTER TABLE calls ADD COLUMN analysis_unpriced INTEGER NOT NULL DEFAULT 0;
  UPDATE calls SET
    analysis_cost_usd = COALESCE((SELECT a.cost_usd FROM analyses a WHERE a.call_sid = calls.call_sid), 0),
    analysis_unpriced = (SELECT a.cost_usd IS NULL FROM analyses a WHERE a.call_sid = calls.call_sid)
  WHERE call_sid IN (SELECT call_sid FROM analyses WHERE state = 'done');
  `,
  // 15: when each transcript line began to be heard (epoch ms; null for lines written before, and
  // when unknown): the recording player seeks a clicked line there.
  `
  ALTER TABLE transcript ADD COLUMN spoken_at REAL;
  `,
  // 16: when a call was placed (its `call.placed`) and when its voice webhook was answered (epoch ms,
  // null when neither came): the next start takes up, instead of closing, a call this instance placed
  // that was still ringing (or awaiting its stream) when the server stopped.
  `
  ALTER TABLE calls ADD COLUMN placed_at INTEGER;
  ALTER TABLE calls ADD COLUMN webhook_at INTEGER;
  `,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * Brings `db` up to {@linkcode SCHEMA_VERSION} and returns the version it found.
 *
 * @throws {Error} when the database is newer than this build, naming both versions.
 */
export function migrate(db: DatabaseSync, label = "call database"): number {
  const found = userVersion(db);
  if (found > SCHEMA_VERSION) {
    throw new Error(
      `Cannot open ${label}: schema version ${found} is newer than this Parley knows (${SCHEMA_VERSION}): upgrade Parley or use another DATA_DIR`,
    );
  }
  for (let version = found; version < SCHEMA_VERSION; version++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[version]!);
      // PRAGMA takes no bound parameters; `version` is our own integer.
      db.exec(`PRAGMA user_version = ${version + 1}`);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
  return found;
}

/** Reads `PRAGMA user_version`. */
export function userVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number } | undefined;
  return row?.user_version ?? 0;
}
