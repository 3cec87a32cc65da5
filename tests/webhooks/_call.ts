/**
 * Shared steps of the webhook tests: a Parley over a SQLite store in a DATA_DIR, sending to a
 * receiver, and one short call through the fakes.
 */

import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";
import { callDatabasePath, type CallStore, openCallStore } from "../../src/store/sqlite/call_store.ts";
import { openSqliteWebhookOutbox } from "../../src/store/sqlite/webhook_outbox.ts";
import type { WebhookOutbox } from "../../src/store/webhook_outbox.ts";
import type { WebhookTiming } from "../../src/outcomes/webhooks/webhooks.ts";

/** A Standard Webhooks secret (32 bytes, base64) for the tests. */
export const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwC8ZbS0Ua4nA=";
/** The API token of the tests' servers. */
export const API_TOKEN = "webhooks-test-token-0123456789";
/** Headers of an API request. */
export const AUTH = { authorization: `Bearer ${API_TOKEN}` };

/** A running server and its store. */
export interface Instance {
  t: TestParley;
  calls: CallStore;
  outbox: WebhookOutbox;
  close(): Promise<void>;
}

/** Starts Parley on the SQLite store of `dataDir`, sending webhooks to `url`. */
export async function startInstance(
  dataDir: string,
  url: string,
  timing: WebhookTiming,
  instance = "alpha",
): Promise<Instance> {
  const calls = openCallStore(callDatabasePath(dataDir), { instance });
  const outbox = openSqliteWebhookOutbox(callDatabasePath(dataDir));
  const t = await startTestParley({
    env: { API_TOKEN, WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET, INSTANCE_ID: instance },
    store: calls,
    outbox,
    webhookTiming: { pollMs: 25, ...timing },
  });
  return {
    t,
    calls,
    outbox,
    async close() {
      await t.close();
      calls.close();
      outbox.close();
    },
  };
}

/** One call: the agent greets, the caller hangs up. Resolves with its CallSid once it has ended. */
export async function shortCall(t: TestParley, parameters: Record<string, string> = {}): Promise<string> {
  const call = await t.startCall({ persona: "tester", ...parameters });
  const session = await t.upstream.session(0);
  await session.waitFor("response.create");
  await session.streamResponse({
    responseId: "resp_1",
    itemId: "item_1",
    audio: toneBytes(100, 0x61),
    transcript: "Hi, this is the tester.",
  });
  await call.waitForEcho("item_1:100");
  call.stop();
  await t.waitForEvent("call.ended", (e) => e.callSid === call.callSid);
  return call.callSid;
}
