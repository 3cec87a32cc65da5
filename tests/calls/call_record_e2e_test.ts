/**
 * A scripted call through both fakes produces the record a user reads afterwards: exact transcript,
 * turn latency as the fakes timed it, tokens and cost from `response.done`; and the live feed and
 * metrics show the same call.
 */

import assert from "node:assert/strict";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";

const TESTDATA_PERSONAS = new URL("../testdata/personas/", import.meta.url).pathname;
const API_TOKEN = "records-test-token-0123456789";

/** Prices of gpt-realtime-2.1 per 1M tokens (protocols.md), for the hand-computed cost. */
const PRICE = { audioIn: 32, audioCached: 0.4, audioOut: 64, textIn: 4, textCached: 0.4, textOut: 24 };

/** Timer period of `watchLoopLag`, ms. */
const LAG_TICK_MS = 5;

/**
 * Watches this event loop until disposed: `lateMs` is how late its timer fired in all, counting only
 * what is more than 1 ms late per tick (an idle loop adds next to nothing). The fakes and Parley run on
 * this one loop, so a stall while a message goes between them delays it by about as much.
 */
function watchLoopLag(): { readonly lateMs: number } & Disposable {
  let last = performance.now();
  let lateMs = 0;
  const tick = () => {
    const now = performance.now();
    lateMs += Math.max(0, now - last - LAG_TICK_MS - 1);
    last = now;
  };
  const timer = setInterval(tick, LAG_TICK_MS);
  return {
    get lateMs() {
      tick();
      return lateMs;
    },
    [Symbol.dispose]: () => clearInterval(timer),
  };
}

function usage(
  audioIn: number,
  textIn: number,
  cached: number,
  audioOut: number,
  textOut: number,
  cachedDetails?: { audio_tokens: number; text_tokens: number },
) {
  return {
    total_tokens: audioIn + textIn + audioOut + textOut,
    input_tokens: audioIn + textIn,
    output_tokens: audioOut + textOut,
    input_token_details: {
      text_tokens: textIn,
      audio_tokens: audioIn,
      cached_tokens: cached,
      ...(cachedDetails === undefined ? {} : { cached_tokens_details: cachedDetails }),
    },
    output_token_details: { text_tokens: textOut, audio_tokens: audioOut },
  };
}

Deno.test("a scripted call is recorded with its transcript, turn latency, tokens and cost", async () => {
  const dataDir = await Deno.makeTempDir();
  const store = openCallStore(`${dataDir}/parley.db`);
  const t = await startTestParley({
    personasDir: TESTDATA_PERSONAS,
    env: { DEFAULT_PERSONA: "tester", API_TOKEN },
    store,
  });
  const auth = { authorization: `Bearer ${API_TOKEN}` };
  try {
    const call = await t.startCall({ persona: "tester", lead: "Dana" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");

    // A live feed client, attached before anything is said.
    await t.waitForEvent("call.started");
    const feed = await fetch(`${t.origin}/api/calls/${call.callSid}/events`, { headers: auth });
    assert.equal(feed.status, 200);
    const feedText = (async () => {
      let text = "";
      for await (const chunk of feed.body!.pipeThrough(new TextDecoderStream())) text += chunk;
      return text;
    })();

    // The greeting (no caller turn before it: no latency figure).
    await session.streamResponse({
      responseId: "resp_1",
      itemId: "item_1",
      audio: toneBytes(200, 0x61),
      transcript: "Hi Dana, this is the tester.",
      usage: usage(0, 300, 0, 10, 8),
    });
    await call.waitForEcho("item_1:200");

    // The caller speaks; the fake answers 120 ms after the caller stopped.
    using lag = watchLoopLag();
    session.speechStarted("item_c1");
    const stoppedAt = performance.now();
    session.speechStopped("item_c1");
    session.send({
      type: "conversation.item.input_audio_transcription.completed",
      item_id: "item_c1",
      content_index: 0,
      transcript: "Who is this?",
    });
    await new Promise((resolve) => setTimeout(resolve, 120)); // the model's thinking time, scripted
    // Its transcript comes once the caller hears the answer (Twilio's echo of its start: turn.latency),
    // as a long answer's does; a short one's could come first on a loaded machine, and the feed say so.
    const playing = t.waitForEvent("turn.latency");
    await session.streamResponse({
      responseId: "resp_2",
      itemId: "item_2",
      audio: toneBytes(300, 0x62),
      transcript: "It's the tester, calling about your account.",
      transcriptAfter: playing,
      usage: usage(20, 340, 256, 15, 12, { audio_tokens: 16, text_tokens: 240 }),
    });
    const firstMedia = await call.waitFor("media", (m) => m.at > stoppedAt);
    const startEcho = await call.waitForEcho("item_2:0");
    const latency = await t.waitForEvent("turn.latency");
    const stalledMs = lag.lateMs;
    // The answer's transcript was sent on the upstream socket: hang up once Parley has read it (on a
    // loaded machine Twilio's stop could otherwise be read first, and the call end before its last line).
    await t.waitForEvent("transcript", (e) => e.text === "It's the tester, calling about your account.");
    call.stop();
    await t.waitForEvent("call.ended");
    const sse = await feedText;

    const response = await fetch(`${t.origin}/api/calls/${call.callSid}`, { headers: auth });
    assert.equal(response.status, 200);
    const record = await response.json();
    assert.deepEqual(
      record.transcript.map((l: { speaker: string; text: string }) => [l.speaker, l.text]),
      [
        ["agent", "Hi Dana, this is the tester."],
        ["caller", "Who is this?"],
        ["agent", "It's the tester, calling about your account."],
      ],
    );
    assert.equal(record.persona, "tester");
    assert.deepEqual(record.parameters, { persona: "tester", lead: "Dana" });
    assert.equal(record.endReason, "caller_hung_up");

    assert.equal(record.turns.length, 1);
    const turn = record.turns[0];
    const sentByFakes = firstMedia.at - stoppedAt;
    const heardByFakes = startEcho.at - stoppedAt;
    // Parley's "sent" interval lies inside the fakes' (it hears speech_stopped after the fake sent it,
    // and sends the first frame before the fake Twilio gets it), so it can never be longer. Both
    // figures agree within a few ms on an idle machine; the bounds leave 15 ms for the event-loop
    // delays of a loaded one, plus what this loop was seen to stall during the turn (the suite runs
    // twelve files at a time on two cores: a file starting beside this one can stall it 40 ms).
    assert.ok(
      turn.firstAudioSentMs <= Math.ceil(sentByFakes),
      `sent ${turn.firstAudioSentMs} vs ${sentByFakes}`,
    );
    assert.ok(
      Math.abs(turn.firstAudioSentMs - sentByFakes) <= 15 + stalledMs,
      `sent ${turn.firstAudioSentMs} vs ${sentByFakes} (the loop stalled ${stalledMs} ms)`,
    );
    assert.ok(
      Math.abs(turn.firstAudioHeardMs - heardByFakes) <= 15 + stalledMs,
      `heard ${turn.firstAudioHeardMs} vs ${heardByFakes} (the loop stalled ${stalledMs} ms)`,
    );
    // Parley measures from when it received speech_stopped, a few ms after the fake sent it.
    assert.ok(
      turn.firstAudioSentMs >= 110 - stalledMs,
      `includes the model's 120 ms: ${turn.firstAudioSentMs} (the loop stalled ${stalledMs} ms)`,
    );
    assert.equal(latency.firstAudioHeardMs, turn.firstAudioHeardMs);
    assert.ok(await t.waitForLog(new RegExp(`Turn latency: ${turn.firstAudioHeardMs} ms`)));

    assert.deepEqual(
      { ...record.usage },
      {
        inputTextTokens: 640,
        inputAudioTokens: 20,
        inputCachedTokens: 256,
        outputTextTokens: 20,
        outputAudioTokens: 25,
        responses: 2,
      },
    );
    // By hand: response 1 has no cache; response 2's 256 cached tokens are 16 audio + 240 text (OpenAI's breakdown).
    const cost1 = (300 * PRICE.textIn + 10 * PRICE.audioOut + 8 * PRICE.textOut) / 1e6;
    const cachedAudio = 16;
    const cachedText = 240;
    const cost2 = ((20 - cachedAudio) * PRICE.audioIn + cachedAudio * PRICE.audioCached +
      (340 - cachedText) * PRICE.textIn + cachedText * PRICE.textCached + 15 * PRICE.audioOut +
      12 * PRICE.textOut) / 1e6;
    assert.ok(Math.abs(record.costUsd - (cost1 + cost2)) < 1e-12, `${record.costUsd} vs ${cost1 + cost2}`);

    // The live feed saw the same call, in order.
    const eventNames = [...sse.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
    assert.equal(eventNames[0], "snapshot");
    assert.deepEqual(
      eventNames.filter((name) => ["transcript", "turn.latency", "call.ended"].includes(name!)),
      // playback of the answer starts (turn.latency) before its transcript is complete
      ["transcript", "transcript", "turn.latency", "transcript", "call.ended"],
    );

    // And so do the metrics.
    const metrics = await (await fetch(`${t.origin}/metrics`, { headers: auth })).text();
    assert.match(metrics, /parley_calls_ended_total\{reason="caller_hung_up"\} 1/);
    assert.match(metrics, /parley_turn_latency_seconds_count 1/);
  } finally {
    await t.close();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
