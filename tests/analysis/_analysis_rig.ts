/**
 * The rig of the analysis tests: Parley over a SQLite store asking a fake Responses API, a persona
 * with an analysis schema, and a short scripted call.
 *
 * @module
 */

import assert from "node:assert/strict";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { FakeResponsesServer, type ScriptedFailure } from "../../testing/fake_responses.ts";
import { startTestParley, TEST_OPENAI_KEY, type TestParley } from "../../testing/parley_harness.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { Store } from "../../src/store/ports.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";

/** The API token the tests read records with. */
export const API_TOKEN = "analysis-test-token-0123456789";
/** Its bearer header. */
export const AUTH = { authorization: `Bearer ${API_TOKEN}` };
/** The test persona's outcome schema. */
export const SCHEMA = {
  type: "object",
  properties: {
    interested: { type: "boolean" },
    meetingDay: { type: ["string", "null"] },
    objections: { type: "array", items: { type: "string" } },
  },
  required: ["interested", "meetingDay", "objections"],
  additionalProperties: false,
};
/** The personas folder: `lead`, with an analysis, and `plain`, without. */
export const PERSONAS = {
  "plain.ts": personaSource({ voice: "marin", instructions: "You are Sam.", greeting: "Say hello." }),
  "lead.ts": personaSource({
    voice: "marin",
    instructions: "You are Alex. Book a demo.",
    greeting: "Say hello.",
    analysis: { schema: SCHEMA, instructions: "A demo booked means interested." },
  }),
};
/** gpt-5-mini: $0.25 per 1M input tokens, $2 per 1M output; the fake reports 1000 in, 200 out. */
export const ANALYSIS_COST = (1000 * 0.25 + 200 * 2) / 1_000_000;

/** Parley over a SQLite store in `dataDir`, asking `fake`. */
export async function startParley(dir: string, dataDir: string, fake: FakeResponsesServer) {
  const store: Store = openSqliteStore(callDatabasePath(dataDir), { instance: "analysis-test" });
  const t = await startTestParley({
    personasDir: dir,
    env: { DEFAULT_PERSONA: "lead", API_TOKEN, OPENAI_BASE_URL: fake.baseUrl },
    shared: store,
  });
  return {
    t,
    store,
    async close() {
      await t.close();
      store.close();
    },
  };
}

/** A short call (persona `lead` unless named): the greeting, one caller line, one answer, the caller hangs up. */
export async function runCall(t: TestParley, persona = "lead"): Promise<string> {
  const opened = t.upstream.sessions.length;
  const call = await t.startCall({ persona, lead: "Dana" });
  const session = await t.upstream.session(opened);
  await session.waitFor("response.create");
  await session.streamResponse({
    responseId: "resp_1",
    itemId: "item_1",
    audio: toneBytes(100, 0x61),
    transcript: "Hi Dana, this is Alex. Do you have two minutes?",
  });
  await call.waitForEcho("item_1:100");
  session.speechStarted("item_c1");
  session.speechStopped("item_c1");
  session.send({
    type: "conversation.item.input_audio_transcription.completed",
    item_id: "item_c1",
    content_index: 0,
    transcript: "Sure, Tuesday works for a demo.",
  });
  await t.waitForEvent("transcript", (e) => e.speaker === "caller");
  call.stop();
  await t.waitForEvent("call.ended");
  return call.callSid;
}

/** GET with the token; asserts a 200. */
// deno-lint-ignore no-explicit-any -- the API's JSON, read field by field
export async function getJson(url: string): Promise<Record<string, any>> {
  const response = await fetch(url, { headers: AUTH });
  assert.equal(response.status, 200, `GET ${url}`);
  return await response.json();
}

/** Runs `body` with a fake Responses API (failing as scripted, then answering `answer`), the personas and a DATA_DIR. */
export async function withRig(
  failures: ScriptedFailure[],
  answer: unknown,
  body: (fake: FakeResponsesServer, dir: string, dataDir: string) => Promise<void>,
): Promise<void> {
  const fake = FakeResponsesServer.start(TEST_OPENAI_KEY, () => answer, { failures });
  const dataDir = await Deno.makeTempDir({ prefix: "parley_analysis_" });
  try {
    await withPersonaDir(PERSONAS, (dir) => body(fake, dir, dataDir));
  } finally {
    await fake.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}
