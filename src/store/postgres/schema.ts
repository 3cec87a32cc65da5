/**
 * The Postgres schema as an ordered list of migrations, and {@linkcode migrate}, which runs the
 * missing ones at startup in one transaction holding an advisory lock: several instances starting at
 * once take turns, and all but the first find nothing left to do. `schema_version` holds how many
 * have run. Append new migrations at the end; never edit one that has shipped.
 *
 * Times are epoch milliseconds (bigint). A call's events are the source of truth (`call_events`,
 * one row per event at its per-call position `seq`); `calls` holds the record folded from them
 * (`record`, JSON) and the columns lists filter on.
 *
 * @module
 */

import type { Sql } from "postgres";

/** Migration `i` brings the schema from version `i` to `i + 1`. */
export const PG_MIGRATIONS: readonly string[] = [
  // 1: records, events, leads, sign-in sessions, used stream tokens.
  `
  CREATE TABLE calls (
    call_sid text PRIMARY KEY,
    created_at bigint NOT NULL,
    persona text,
    from_number text,
    to_number text,
    instance text,
    ended_at bigint,
    event_seq bigint NOT NULL DEFAULT 0,
    record jsonb NOT NULL
  );
  CREATE INDEX calls_created_at ON calls (created_at DESC);
  CREATE INDEX calls_persona_created_at ON calls (persona, created_at DESC);
  CREATE INDEX calls_to_number ON calls (to_number);
  CREATE INDEX calls_from_number ON calls (from_number);
  CREATE INDEX calls_open_instance ON calls (instance) WHERE ended_at IS NULL;

  CREATE TABLE call_events (
    call_sid text NOT NULL,
    seq bigint NOT NULL,
    instance text NOT NULL,
    event jsonb NOT NULL,
    PRIMARY KEY (call_sid, seq)
  );

  CREATE TABLE leads (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    phone text NOT NULL,
    company text NOT NULL DEFAULT '',
    notes text NOT NULL DEFAULT '',
    fields jsonb NOT NULL DEFAULT '{}',
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
  );
  CREATE INDEX leads_phone ON leads (phone);
  CREATE INDEX leads_name_id ON leads (lower(name), id);

  CREATE TABLE sign_in_sessions (
    id text PRIMARY KEY,
    expires_at bigint NOT NULL
  );

  CREATE TABLE used_stream_tokens (
    token text PRIMARY KEY,
    expires_at bigint NOT NULL
  );
  CREATE INDEX used_stream_tokens_expiry ON used_stream_tokens (expires_at);
  `,
  // 2: the per-call heartbeat (`../heartbeat.ts`): when a running call was last known alive, so a
  // record a crash left open ends near the crash.
  `
  ALTER TABLE calls ADD COLUMN alive_at bigint;
  `,
  // 3: one heartbeat row per instance (`instance_heartbeat.ts`): a peer closes the open records of
  // an instance that stopped beating.
  `
  CREATE TABLE instances (
    instance text PRIMARY KEY,
    started_at bigint NOT NULL,
    beat_at bigint NOT NULL,
    stopped_at bigint
  );
  `,
  // 4: campaigns (src/dialer/, `campaigns.ts`): the campaign; one row per lead it calls (state pending,
  // dialing, done or skipped; attempts; next try; the instance that claimed it); one row per attempt;
  // and the do-not-call list. `calling_window` because WINDOW is a reserved word here.
  `
  CREATE TABLE campaigns (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    persona text NOT NULL,
    voice text,
    parameters jsonb NOT NULL DEFAULT '{}',
    calling_window jsonb NOT NULL,
    max_concurrent integer NOT NULL,
    calls_per_second double precision NOT NULL,
    retry jsonb NOT NULL,
    machine_detection boolean NOT NULL,
    state text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
  );
  CREATE TABLE campaign_leads (
    id bigserial PRIMARY KEY,
    campaign_id bigint NOT NULL REFERENCES campaigns (id),
    lead_id bigint,
    name text NOT NULL,
    phone text NOT NULL,
    timezone text,
    fields jsonb NOT NULL DEFAULT '{}',
    state text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_try_at bigint NOT NULL DEFAULT 0,
    disposition text,
    skip_reason text,
    claimed_by text
  );
  CREATE INDEX campaign_leads_due ON campaign_leads (campaign_id, state, next_try_at, id);
  CREATE INDEX campaign_leads_claimed ON campaign_leads (claimed_by) WHERE state = 'dialing';
  CREATE TABLE campaign_attempts (
    id bigserial PRIMARY KEY,
    campaign_id bigint NOT NULL REFERENCES campaigns (id),
    campaign_lead_id bigint NOT NULL REFERENCES campaign_leads (id),
    attempt integer NOT NULL,
    call_sid text,
    started_at bigint NOT NULL,
    ended_at bigint,
    disposition text,
    detail text NOT NULL DEFAULT ''
  );
  CREATE INDEX campaign_attempts_campaign ON campaign_attempts (campaign_id, id);
  CREATE INDEX campaign_attempts_call ON campaign_attempts (call_sid);
  CREATE INDEX campaign_attempts_open ON campaign_attempts (campaign_lead_id) WHERE ended_at IS NULL;
  CREATE TABLE do_not_call (
    phone text PRIMARY KEY,
    source text NOT NULL,
    added_at bigint NOT NULL
  );
  `,
  // 5: what the call came through (the record's `source`: 'phone', 'softphone' or 'rehearsal'); records
  // folded before it came through the phone or the softphone, and read as 'phone', as on SQLite.
  `
  UPDATE calls SET record = record || '{"source": "phone"}'::jsonb WHERE record->'source' IS NULL;
  `,
  // 6: the webhook outbox (`webhook_outbox.ts`): one row per message (its id is the `webhook-id`
  // header), its delivery state and the lease an instance holds while it sends (`claimed_by` until
  // `lease_until`); one row per attempt.
  `
  CREATE TABLE webhook_outbox (
    id text PRIMARY KEY,
    type text NOT NULL,
    call_sid text,
    payload text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    state text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_try_at bigint,
    last_status integer,
    last_error text,
    delivered_at bigint,
    claimed_by text,
    lease_until bigint
  );
  CREATE INDEX webhook_outbox_due ON webhook_outbox (next_try_at) WHERE state = 'pending';
  CREATE INDEX webhook_outbox_call ON webhook_outbox (call_sid, created_at);
  CREATE INDEX webhook_outbox_created ON webhook_outbox (created_at);
  CREATE TABLE webhook_attempts (
    id bigserial PRIMARY KEY,
    message_id text NOT NULL REFERENCES webhook_outbox (id),
    at bigint NOT NULL,
    instance text NOT NULL,
    status integer,
    error text,
    duration_ms double precision NOT NULL
  );
  CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, id);
  `,
  // 7: post-call analyses (src/analysis/), as SQLite's migration 12: one row per call, claimed with
  // FOR UPDATE SKIP LOCKED.
  `
  CREATE TABLE analyses (
    call_sid text PRIMARY KEY,
    state text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_try_at bigint NOT NULL,
    claimed_by text,
    claimed_until bigint,
    spec jsonb NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    error text,
    outcome jsonb,
    usage jsonb,
    cost_usd double precision
  );
  CREATE INDEX analyses_due ON analyses (state, next_try_at);
  `,
  // 8: campaigns across instances (src/dialer/): `campaigns.next_dial_at`, the campaign's next dial
  // slot (its callsPerSecond pace, claimed in the store so it holds for every instance at once), and
  // `campaign_leads.requested_at`, when a call request for the lead went to Twilio with its answer never
  // noted (a timeout, a crash): Twilio is asked about that call before the lead is dialled again.
  `
  ALTER TABLE campaigns ADD COLUMN next_dial_at bigint NOT NULL DEFAULT 0;
  ALTER TABLE campaign_leads ADD COLUMN requested_at bigint;
  `,
  // 9: the post-call analysis's own cost, kept in the record (`analysisUsd`, `analysisUnpriced`, and
  // in `costUsd`), as SQLite's migration 14: analyses done before are copied in.
  `
  UPDATE calls c SET record = c.record || jsonb_build_object(
    'analysisUsd', COALESCE(a.cost_usd, 0),
    'analysisUnpriced', a.cost_usd IS NULL,
    'costUsd', CASE
      WHEN a.cost_usd IS NULL OR jsonb_typeof(c.record->'costUsd') <> 'number' THEN 'null'::jsonb
      ELSE to_jsonb((c.record->>'costUsd')::double precision + a.cost_usd)
    END)
  FROM analyses a WHERE a.call_sid = c.call_sid AND a.state = 'done';
  `,
  // 10: each event's key (unique to the process that wrote it), so a batch written again after its
  // COMMIT's answer was lost (the commit went through) skips what is stored instead of storing it twice.
  `
  ALTER TABLE call_events ADD COLUMN event_key text;
  CREATE UNIQUE INDEX call_events_event_key ON call_events (call_sid, event_key) WHERE event_key IS NOT NULL;
  `,
];

/** The schema version this build writes. */
export const PG_SCHEMA_VERSION: number = PG_MIGRATIONS.length;

/** The advisory lock key migrations hold (any constant; "parley" in ASCII). */
export const MIGRATION_LOCK_KEY = 0x7061726c6579;

/**
 * Brings the database up to {@linkcode PG_SCHEMA_VERSION} and returns the version it found.
 *
 * @throws {Error} when the database is newer than this build, naming both versions.
 */
export async function migrate(sql: Sql): Promise<number> {
  return await sql.begin(async (tx) => {
    // Held until the transaction ends: a second instance waits here, then sees the new version.
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`;
    const rows = await tx<{ version: number }[]>`SELECT version FROM schema_version`;
    const found = rows[0]?.version ?? 0;
    if (found > PG_SCHEMA_VERSION) {
      throw new Error(
        `schema version ${found} is newer than this Parley knows (${PG_SCHEMA_VERSION}): upgrade Parley or use another database`,
      );
    }
    for (let version = found; version < PG_SCHEMA_VERSION; version++) {
      await tx.unsafe(PG_MIGRATIONS[version]!);
    }
    if (rows.length === 0) await tx`INSERT INTO schema_version (version) VALUES (${PG_SCHEMA_VERSION})`;
    else if (found < PG_SCHEMA_VERSION) await tx`UPDATE schema_version SET version = ${PG_SCHEMA_VERSION}`;
    return found;
  }) as number;
}
