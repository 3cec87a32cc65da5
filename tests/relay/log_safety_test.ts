/**
 * Text from outside (OpenAI transcripts, error events and tool calls, Twilio custom parameters) reaches
 * the log one escaped line at a time, cut to the logger's limit: no raw control character (C0, C1,
 * DEL, U+2028/9, bidirectional controls) and no line longer than MAX_LOG_LINE_CHARS, with the
 * OpenAI key masked even where a cut falls inside it.
 */

import assert from "node:assert/strict";
import { createLogger, excerpt, MAX_LOG_LINE_CHARS } from "../../src/log.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { TEST_OPENAI_KEY } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { withActionParley } from "./_action_persona.ts";

/** A terminal clear, a forged line, line separators, C1 and DEL, and every kind of bidi control. */
const HOSTILE =
  "\u001b[2J\r\n[Realtime] forged\u2028\u2029\u202eevil\u0085\u007f\u200e\u200f\u202a\u2066\u2069\u061c";
/** What a log line must never carry raw. */
// deno-lint-ignore no-control-regex
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

Deno.test("hostile text from OpenAI and Twilio is logged escaped, one line each, cut to the logger's limit", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "nobody" + HOSTILE + "p".repeat(5_000), lead: HOSTILE });
    const session = await t.upstream.session(0);
    await session.waitFor("session.update");

    session.send({
      type: "conversation.item.input_audio_transcription.completed",
      item_id: "item_caller",
      content_index: 0,
      transcript: `caller ${HOSTILE}` + "c".repeat(20_000),
    });
    // The key lands across the limit (`[Realtime] User said: "` is 23 characters): the line is cut
    // after it is masked, so no part of it shows.
    const keyAt = MAX_LOG_LINE_CHARS - 30 - 23;
    session.send({
      type: "conversation.item.input_audio_transcription.completed",
      item_id: "item_caller_2",
      content_index: 0,
      transcript: "k".repeat(keyAt) + TEST_OPENAI_KEY + "k".repeat(20_000),
    });
    session.send({
      type: "error",
      error: {
        type: "invalid_request_error",
        code: HOSTILE + "C".repeat(5_000),
        message: HOSTILE + "m".repeat(5_000),
      },
    });
    await session.streamResponse({
      responseId: "r1",
      itemId: "i1",
      audio: toneBytes(100, 3),
      transcript: `agent ${HOSTILE}` + "a".repeat(20_000),
      functionCalls: [
        { callId: "c1", name: HOSTILE + "n".repeat(5_000), arguments: JSON.stringify({ x: HOSTILE }) },
        {
          callId: "c2",
          name: "lookup_order",
          arguments: JSON.stringify({ order: HOSTILE + "o".repeat(5_000) }),
        },
      ],
    });
    await within(t.waitForLog(/Tool log \(tess\)/), "the tool's own line");
    await within(t.waitForLog(/Tool call: .* → unknown_tool/), "the unknown tool's line");
    await within(t.waitForLog(/AI said/), "the agent's line");
    call.stop();
    await call.closed;
    await t.waitForEvent("call.ended");

    const lines = t.logs.map((l) => l.line);
    assert.deepEqual(lines.filter((l) => RAW_CONTROL.test(l)), [], "no raw control character");
    const long = lines.filter((l) => l.length > MAX_LOG_LINE_CHARS).map((l) =>
      `${l.length}: ${l.slice(0, 80)}`
    );
    assert.deepEqual(long, [], `no line over ${MAX_LOG_LINE_CHARS} characters`);
    assert.ok(!lines.some((l) => l.includes(TEST_OPENAI_KEY.slice(0, 12))), "no part of the key");

    // Still readable: each escape written out, each cut saying how long the line was.
    const user = lines.find((l) => l.includes('User said: "caller'))!;
    assert.ok(
      user.startsWith(
        '[Realtime] User said: "caller \\x1b[2J\\x0d\\x0a[Realtime] forged\\u2028\\u2029\\u202eevil\\x85\\x7f' +
          "\\u200e\\u200f\\u202a\\u2066\\u2069\\u061c",
      ),
      user.slice(0, 200),
    );
    assert.match(user, /c… \(\d+ chars\)$/);
    assert.match(lines.find((l) => l.includes('User said: "kkk'))!, /k\[redacted\]k*… \(\d+ chars\)$/);
    for (
      const pattern of [/AI said:/, /OpenAI error for/, /Unknown persona/, /→ unknown_tool/, /lookup_order\(/]
    ) {
      assert.ok(lines.some((l) => pattern.test(l) && l.includes("\\u202eevil")), `${pattern} escaped`);
    }
    assert.ok(!lines.some((l) => l.startsWith("[Realtime] forged")), "no forged line");
  });
});

Deno.test("a secret that an excerpt cut in two is masked all the same: what is left of it never shows", () => {
  const key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
  const lines: string[] = [];
  const log = createLogger({ sink: (_level, line) => lines.push(line), secrets: [key] });
  const said = `Incorrect API key provided: ${key}. You can find your API key at https://platform.openai.com`;
  // Cut inside the key, at each of its characters from the 6th on, and once after it.
  for (let at = 29 + 6; at <= 29 + key.length + 1; at++) log.error(`OpenAI error: ${excerpt(said, at)}`);
  for (const line of lines) {
    for (let kept = 6; kept <= key.length; kept++) {
      assert.ok(!line.includes(key.slice(0, kept)), `${kept} characters of the key in: ${line}`);
    }
    assert.match(line, /^\[Realtime\] OpenAI error: Incorrect API key provided: \[redacted\]/, line);
  }
  // Text that only looks like the start of nothing is left alone.
  lines.length = 0;
  log.info(`Caller said: ${excerpt("sk-pro is a word here and this goes on for a while", 20)}`);
  assert.deepEqual(lines, ["[Realtime] Caller said: sk-pro is a word her… (50 chars)"]);
});
