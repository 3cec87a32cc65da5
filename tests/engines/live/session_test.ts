/**
 * GPT-Live `session.start`: exactly the fields of the types, history within GPT-Live's limits,
 * delegation with function tools.
 */

import assert from "node:assert/strict";
import {
  estimateTokens,
  HISTORY_TOKEN_BUDGET,
  historyItems,
  type LiveHistoryMessage,
  MAX_HISTORY_MESSAGES,
  sessionStartEvent,
} from "../../../src/engines/live/session.ts";
import { checkClientEvent } from "../../../testing/live_schema.ts";

Deno.test("session.start carries model, instructions, μ-law at 8 kHz and the voice, nothing else", () => {
  const event = JSON.parse(
    sessionStartEvent({ voice: "cedar" }, { model: "gpt-live-1.1", instructions: "Be kind." }),
  );
  assert.deepEqual(event, {
    type: "session.start",
    session: {
      model: "gpt-live-1.1",
      instructions: "Be kind.",
      audio: { format: { type: "audio/pcmu", rate: 8000 }, output: { voice: "cedar" } },
    },
  });
  assert.equal(checkClientEvent(event), undefined);
});

Deno.test("session.start keeps instructions with quotes and newlines intact", () => {
  const instructions = 'You are "Alex".\nNever say \\n literally.\u2028';
  const event = JSON.parse(
    sessionStartEvent({ voice: "marin" }, { model: "gpt-live-1", instructions, eventId: "s1" }),
  );
  assert.equal(event.session.instructions, instructions);
  assert.equal(event.event_id, "s1");
});

Deno.test("session.start hands over history as one text part per message", () => {
  const history: LiveHistoryMessage[] = [
    { role: "developer", text: "The call reconnected." },
    { role: "user", text: "  I want a quote.  " },
    { role: "assistant", text: "" },
    { role: "assistant", text: "For how many seats?" },
  ];
  const event = JSON.parse(
    sessionStartEvent({ voice: "marin" }, { model: "gpt-live-1", instructions: "x", history }),
  );
  assert.deepEqual(event.session.input, [
    { type: "message", role: "developer", content: [{ type: "input_text", text: "The call reconnected." }] },
    { type: "message", role: "user", content: [{ type: "input_text", text: "I want a quote." }] },
    { type: "message", role: "assistant", content: [{ type: "output_text", text: "For how many seats?" }] },
  ]);
  assert.equal(checkClientEvent(event), undefined);
  const none = JSON.parse(
    sessionStartEvent({ voice: "marin" }, { model: "gpt-live-1", instructions: "x", history: [] }),
  );
  assert.equal("input" in none.session, false);
});

Deno.test("history keeps the newest messages within 128 messages and the token budget", () => {
  const many = Array.from({ length: 300 }, (_, i) => ({ role: "user" as const, text: `message ${i}` }));
  const items = historyItems(many);
  assert.equal(items.length, MAX_HISTORY_MESSAGES);
  assert.deepEqual(items.at(-1), {
    type: "message",
    role: "user",
    content: [{ type: "input_text", text: "message 299" }],
  });
  assert.deepEqual((items[0]!.content as { text: string }[])[0]!.text, "message 172");

  const long = Array.from(
    { length: 20 },
    (_, i) => ({ role: "assistant" as const, text: `${i} ${"w".repeat(4000)}` }),
  );
  const kept = historyItems(long);
  const tokens = kept.reduce(
    (sum, item) => sum + estimateTokens((item.content as { text: string }[])[0]!.text),
    0,
  );
  assert.ok(tokens <= HISTORY_TOKEN_BUDGET, `${tokens} tokens kept`);
  assert.ok(kept.length >= 7 && kept.length < 20, `${kept.length} messages kept`);
  assert.match((kept.at(-1)!.content as { text: string }[])[0]!.text, /^19 /);
});

Deno.test("session.start delegates tools to a Responses backend", () => {
  const event = JSON.parse(sessionStartEvent({ voice: "marin" }, {
    model: "gpt-live-1",
    instructions: "x",
    delegation: {
      model: "gpt-5.5",
      tools: [
        { name: "end_call" },
        {
          name: "transfer",
          description: "Transfer the call.",
          parameters: { type: "object", properties: {} },
        },
      ],
    },
  }));
  assert.deepEqual(event.session.delegation, {
    type: "responses",
    responses: {
      model: "gpt-5.5",
      tools: [
        { type: "function", name: "end_call" },
        {
          type: "function",
          name: "transfer",
          description: "Transfer the call.",
          parameters: { type: "object", properties: {} },
        },
      ],
    },
  });
  assert.equal(checkClientEvent(event), undefined);
});
