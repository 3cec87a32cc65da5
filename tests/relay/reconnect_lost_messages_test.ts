/**
 * What the call sends the model while it has no session is not lost: it is held and given to the new
 * session (a tool's result that came in the gap, as a note, since the new session never saw the call,
 * then the "go on"); and an answer under way when its session is lost no longer holds the call's
 * actions (a pending hang-up goes ahead at once, not at its 10 s cap). Realtime, over real sockets.
 */

import assert from "node:assert/strict";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { withActionParley } from "./_action_persona.ts";

/** A Realtime persona whose one tool answers 400 ms after it is called. */
const WAITING_PERSONA = `
export default {
  voice: "marin",
  instructions: "You are Sam. Keep answers short.",
  tools: [{
    name: "check_stock",
    description: "Checks the stock.",
    run: (_args, call) => {
      call.log("checking");
      return new Promise((resolve) => setTimeout(() => resolve({ inStock: 7 }), 400));
    },
  }],
};
`;

Deno.test("Realtime: a tool that finishes while the call has no session: its result and the ask to go on reach the new session", async () => {
  await withPersonaDir({ "sam.ts": WAITING_PERSONA }, async (dir) => {
    const t = await startTestParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam" } });
    try {
      const call = await t.startCall({ persona: "sam" });
      const first = await within(t.upstream.session(0), "first session");
      await within(t.waitForEvent("call.started"), "the stream started");
      void first.streamResponse({
        responseId: "r1",
        itemId: "item_a1",
        audio: toneBytes(100, 0x22),
        functionCalls: [{ callId: "call_stock", name: "check_stock", arguments: "{}" }],
      });
      await within(t.waitForLog(/Tool log \(sam\) .*checking/), "the tool running");
      // New sessions are refused for now: the tool finishes while the call has none.
      t.upstream.refuseWith = 503;
      first.drop();
      await within(t.waitForLog(/Upstream lost for CallSid=CA\w+/), "the drop noticed");
      await within(t.waitForEvent("tool.called"), "the tool done, in the gap", 2000);
      assert.equal(t.upstream.sessions.length, 1, "no new session yet");
      t.upstream.refuseWith = undefined;
      const second = await within(t.upstream.session(1), "the new session", 2000);
      const ask = await within(second.waitFor("response.create"), "the new session asked to go on", 2000);
      const notes = second.eventsOf("conversation.item.create").filter((e) => e.at <= ask.at);
      const note = notes.at(-1)!;
      assert.equal(note.item.role, "user");
      assert.match(note.item.content[0].text, /check_stock.*\{"inStock":7\}/);
      assert.equal(
        second.eventsOf("conversation.item.create").filter((e) => e.item.type === "function_call_output")
          .length,
        0,
        "no output for a call the new session never saw (it would refuse it)",
      );
      assert.equal(second.eventsOf("response.create").length, 1, "asked once");
      assert.equal(second.received[0]!.type, "session.update", "after its configuration");
      call.close();
      await call.closed;
    } finally {
      await t.close();
    }
  });
});

Deno.test("Realtime: a session lost mid-answer no longer holds a pending hang-up: the call ends at once, not at the cap", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const first = await within(t.upstream.session(0), "first session");
    await within(t.waitForEvent("call.started"), "the stream started");
    // An answer under way calls end_call; the session is lost before the answer is done.
    first.beginResponse("r1", "item_a1");
    first.sendAudio("r1", "item_a1", toneBytes(200, 0x22));
    first.send({
      type: "response.output_item.done",
      response_id: "r1",
      output_index: 1,
      item: { id: "fc_end", type: "function_call", call_id: "call_end", name: "end_call", arguments: "{}" },
    });
    await within(
      first.waitFor("conversation.item.create", (e) => e.item?.type === "function_call_output"),
      "end_call answered",
    );
    first.drop();
    const ended = await within(t.waitForEvent("call.ended"), "the hang-up, well before its 10 s cap", 4000);
    assert.equal(ended.reason, "agent_hung_up");
    await within(call.closed, "Twilio socket closed");
  });
});
