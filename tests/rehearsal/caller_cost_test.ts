/**
 * The caller session's cost: its usage reports priced by their engine's own rules through the
 * registry, as a call record's are. Realtime reports one answer's tokens each (they add up); a report
 * the engine cannot price leaves the caller's cost unknown.
 */

import assert from "node:assert/strict";
import { DEFAULT_PRICES } from "../../src/engines/prices.ts";
import { estimateCost } from "../../src/engines/realtime/prices.ts";
import { createEngineChooser } from "../../src/engines/registry.ts";
import { connectOpenAI, type UpstreamConnector } from "../../src/engines/upstream_socket.ts";
import { CallerBridge } from "../../src/rehearsal/caller_bridge.ts";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { within } from "../../testing/within.ts";

const MODEL = "gpt-realtime-2.1";

function usage(audioIn: number, textIn: number, audioOut: number, textOut: number) {
  return {
    total_tokens: audioIn + textIn + audioOut + textOut,
    input_tokens: audioIn + textIn,
    output_tokens: audioOut + textOut,
    input_token_details: { text_tokens: textIn, audio_tokens: audioIn, cached_tokens: 0 },
    output_token_details: { text_tokens: textOut, audio_tokens: audioOut },
  };
}

async function callerCost(reports: Record<string, unknown>[]): Promise<number | null> {
  const fake = FakeRealtimeServer.start();
  // The bridge's socket, with a look at each message once the bridge has read it.
  const lastDone = Promise.withResolvers<void>();
  const lastId = `"resp_${reports.length - 1}"`;
  const connect: UpstreamConnector = (request, handlers) =>
    connectOpenAI(request, {
      ...handlers,
      onMessage(text) {
        handlers.onMessage(text);
        if (text.includes('"response.done"') && text.includes(lastId)) lastDone.resolve();
      },
    });
  try {
    const bridge = new CallerBridge({
      engineFor: createEngineChooser({ realtime: fake.url }),
      model: MODEL,
      voice: "cedar",
      who: "You are Sam.",
      apiKey: "sk-test",
      connect,
      prices: DEFAULT_PRICES,
    });
    const session = await fake.session(0);
    await session.waitFor("session.update");
    for (const [i, report] of reports.entries()) {
      await session.streamResponse({
        responseId: `resp_${i}`,
        itemId: `item_${i}`,
        audio: new Uint8Array(0),
        usage: report,
      });
    }
    // The last `response.done` has been read by the bridge before it closes.
    await within(lastDone.promise, "the last response.done to reach the bridge");
    return (await bridge.close()).costUsd;
  } finally {
    await fake.close();
  }
}

Deno.test("the caller session's answers add up, each priced by the Realtime engine's rules", async () => {
  const one = estimateCost(
    MODEL,
    {
      inputTextTokens: 40,
      inputAudioTokens: 600,
      inputCachedTokens: 0,
      outputTextTokens: 30,
      outputAudioTokens: 900,
    },
    DEFAULT_PRICES,
  );
  assert.ok(one !== null && one > 0);
  const cost = await callerCost([usage(600, 40, 900, 30), usage(600, 40, 900, 30)]);
  assert.ok(cost !== null);
  assert.ok(Math.abs(cost - 2 * one) < 1e-12, `${cost} is two answers of ${one}`);
});

Deno.test("an answer with impossible token counts leaves the caller session's cost unknown", async () => {
  assert.equal(await callerCost([usage(600, 40, 900, 30), usage(-5, 40, 900, 30)]), null);
});
