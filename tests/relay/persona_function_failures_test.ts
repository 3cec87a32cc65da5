/**
 * A persona's `voicemail` and `transfer.to` functions failing at call time, end to end through the
 * fake Twilio and the fake Realtime server over real sockets: a voicemail function that throws,
 * returns a Promise or returns no text hangs up on the machine (as with no voicemail), and a
 * `transfer.to` that throws or returns no E.164 number refuses the transfer; each failure is one log
 * line naming the persona file and the field.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { outputsByCallId } from "./_action_persona.ts";

/** Personas whose functions fail, each in its own way. */
const PERSONAS: Record<string, string> = {
  "vm_throws.ts": persona('voicemail: () => { throw new Error("crm down"); }'),
  // Not an `async` function (load refuses those), but a Promise all the same, and one that rejects.
  "vm_promise.ts": persona('voicemail: () => Promise.reject(new Error("crm down"))'),
  "vm_empty.ts": persona('voicemail: (call) => call.parameters.lead ?? ""'),
  "to_throws.ts": persona('transfer: { to: () => { throw new Error("crm down"); } }'),
  "to_local.ts": persona('transfer: { to: () => "4155550100" }'),
};

function persona(field: string): string {
  return `export default { voice: "coral", instructions: "You are Vic.", endCall: true, ${field} };\n`;
}

/** Runs `fn` against a test server with {@linkcode PERSONAS} in `dir`. */
async function withFailingPersonas(fn: (t: TestParley, dir: string) => Promise<void>): Promise<void> {
  await withPersonaDir(PERSONAS, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "vm_throws", INBOUND_PERSONA: "vm_throws" },
    });
    try {
      await fn(t, dir);
    } finally {
      await t.close();
    }
  });
}

/** Escapes `text` for a RegExp. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

for (
  const [id, problem] of [
    ["vm_throws", "the function threw: crm down"],
    ["vm_promise", "returned a Promise, not a non-empty string; the function must not be async"],
    ["vm_empty", 'returned "", not a non-empty string'],
  ] as const
) {
  Deno.test(`a voicemail function that fails (${id}) hangs up on the machine, naming the file and voicemail`, async () => {
    await withFailingPersonas(async (t, dir) => {
      const call = await t.startCall({ persona: id });
      const session = await within(t.upstream.session(0), "the upstream session");
      await within(t.waitForEvent("call.started"), "the stream started");
      const beep = await t.postTwilio("/api/twilio/status", {
        CallSid: call.callSid,
        AnsweredBy: "machine_end_beep",
      });
      assert.equal(beep.status, 204, await beep.text());
      await within(call.closed, "the hang-up", 5000);
      const line = await within(
        t.waitForLog(new RegExp(`${literal(join(dir, `${id}.ts`))}: voicemail: ${literal(problem)}`)),
        "the log line naming the file and the field",
      );
      assert.match(
        line,
        new RegExp(`hanging up as if the persona had no voicemail \\(CallSid=${call.callSid}\\)`),
      );
      const ended = await t.waitForEvent("call.ended");
      assert.equal(ended.reason, "agent_hung_up");
      assert.equal(ended.detail, "answering machine (machine_end_beep); the persona's voicemail failed");
      assert.equal((await t.waitForEvent("call.after_stream")).action, "hangup");
      // No voicemail instruction reached the model, and no answer was asked for.
      assert.deepEqual(session.eventsOf("conversation.item.create"), []);
      assert.equal(session.eventsOf("response.create").length, 0);
      const answer = await t.postTwilio(`/api/twilio/after-stream?persona=${id}`, { CallSid: call.callSid });
      assert.match(await answer.text(), /<Response><Hangup\/><\/Response>/);
    });
  });
}

for (
  const [id, problem] of [
    ["to_throws", "the function threw: crm down"],
    ["to_local", 'returned "4155550100", not an E.164 number (+14155550100)'],
  ] as const
) {
  Deno.test(`a transfer.to that fails (${id}) is logged naming the file and field, and the transfer refused`, async () => {
    await withFailingPersonas(async (t, dir) => {
      const call = await t.startCall({ persona: id });
      const session = await within(t.upstream.session(0), "the upstream session");
      await session.waitFor("session.update");
      await session.streamResponse({
        responseId: "resp_handoff",
        itemId: "item_handoff",
        audio: toneBytes(100, 0x35),
        functionCalls: [{ callId: "call_transfer", name: "transfer_call", arguments: "{}" }],
      });
      const line = await within(
        t.waitForLog(new RegExp(`${literal(join(dir, `${id}.ts`))}: transfer\\.to: ${literal(problem)}`)),
        "the log line naming the file and the field",
      );
      assert.match(line, new RegExp(`; the transfer is refused \\(CallSid=${call.callSid}\\)`));
      // Refused as a transfer with no valid target is: the model is told, and asked to go on.
      await within(session.waitFor("response.create"), "the model asked to go on");
      const outputs = outputsByCallId(session.eventsOf("conversation.item.create"));
      assert.deepEqual(outputs.call_transfer, {
        error: "no valid transfer number is set for this call; carry on",
      });
      const called = await t.waitForEvent("tool.called");
      assert.equal(called.status, "refused");
      // The call goes on: nothing dials, nothing hangs up.
      assert.equal(t.events.some((e) => e.type === "call.ended" || e.type === "call.after_stream"), false);
      call.stop();
      assert.equal((await t.waitForEvent("call.ended")).reason, "caller_hung_up");
      assert.equal((await t.waitForEvent("call.after_stream")).action, "hangup");
    });
  });
}
