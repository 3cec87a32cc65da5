/**
 * The "first word" scenario of `deno task bench`: how soon after Twilio's `start` the greeting's
 * first frame reaches Twilio, with the session pre-warmed on the voice webhook and without
 * (`prewarm: false`), on both engines, in one run.
 *
 * Parley runs in-process (`testing/parley_harness.ts`) against the shared fakes, given a
 * realistic upstream: the handshake takes {@linkcode HANDSHAKE_MS} (TLS + upgrade) and the first
 * greeting audio comes {@linkcode FIRST_AUDIO_MS} after the request for it. The fake Twilio answers
 * the webhook, opens the socket `gapMs` later, sends `connected`, and `start` {@linkcode START_AFTER_MS}
 * after it. The pause keeps the fake client's own Nagle delay out of the figure: its socket (Deno's
 * native WebSocket) has Nagle on, so a `start` written less than the server's delayed ACK (~40 ms)
 * after `connected` would wait for that ACK, and the scenario would time the fake, not Parley.
 *
 * @module
 */

import { startTestParley, type TestParley } from "../testing/parley_harness.ts";
import { newCallSid } from "../testing/twilio_webhook.ts";
import { toneBytes } from "../testing/fake_realtime.ts";

/** The fake OpenAI's handshake, ms. */
export const HANDSHAKE_MS = 150;
/** The fake model's time to the greeting's first audio, ms. */
export const FIRST_AUDIO_MS = 400;
/** `connected` → `start`, ms. */
const START_AFTER_MS = 60;

/** One row: an engine, pre-warm on or off, a webhook → socket gap. */
export interface FirstWordRow {
  engine: "Realtime" | "GPT-Live";
  prewarm: boolean;
  gapMs: number;
  calls: number;
  /** `start` → first greeting frame at Twilio, ms. */
  p50: number;
  p95: number;
  /** The upstream's own time: session requested → first greeting frame at Twilio, p50, ms. */
  upstreamP50: number;
}

const PERSONAS: Record<string, Record<string, unknown>> = {
  sam: { model: "gpt-realtime-2.1" },
  sam_off: { model: "gpt-realtime-2.1", prewarm: false },
  sam_live: { model: "gpt-live-1.1" },
  sam_live_off: { model: "gpt-live-1.1", prewarm: false },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Runs every row: both engines, pre-warm on and off, each gap; `calls` calls per row, 10 at a time. */
export async function runFirstWord(
  options: { calls: number; gaps: number[]; dir?: string },
): Promise<FirstWordRow[]> {
  // Persona files of its own, under a folder the bench may write to (bench/results).
  const dir = await Deno.makeTempDir({
    prefix: "first-word-personas-",
    ...(options.dir === undefined ? {} : { dir: options.dir }),
  });
  try {
    for (const [id, fields] of Object.entries(PERSONAS)) {
      const persona = { voice: "marin", instructions: "Be brief.", greeting: "Say hello.", ...fields };
      await Deno.writeTextFile(`${dir}/${id}.ts`, `export default ${JSON.stringify(persona)};\n`);
    }
    const greeting = toneBytes(1000, 0x11);
    const rows: FirstWordRow[] = [];
    for (const engine of ["Realtime", "GPT-Live"] as const) {
      const on = engine === "GPT-Live" ? "sam_live" : "sam";
      // The engine's persona is the default: a socket without pre-warm opens the right model at once.
      const t = await startTestParley({
        personasDir: dir,
        env: { DEFAULT_PERSONA: on, INBOUND_PERSONA: on },
        realtime: { handshakeDelayMs: HANDSHAKE_MS, greeting: { audio: greeting, delayMs: FIRST_AUDIO_MS } },
        live: {
          handshakeDelayMs: HANDSHAKE_MS,
          greeting: { audio: greeting },
          greetingDelayMs: FIRST_AUDIO_MS,
          usageIntervalMs: 0,
        },
      });
      try {
        for (const gapMs of options.gaps) {
          for (const prewarm of [true, false]) {
            const persona = prewarm ? on : `${on}_off`;
            rows.push(await runRow(t, { engine, prewarm, gapMs, calls: options.calls, persona }));
          }
        }
      } finally {
        await t.close();
      }
    }
    return rows;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function runRow(
  t: TestParley,
  row: { engine: FirstWordRow["engine"]; prewarm: boolean; gapMs: number; calls: number; persona: string },
): Promise<FirstWordRow> {
  const firstWord: number[] = [];
  const upstream: number[] = [];
  for (let done = 0; done < row.calls; done += 10) {
    const batch = Array.from({ length: Math.min(10, row.calls - done) }, async (_, i) => {
      await sleep(i * 30); // spread the batch a little, as calls arrive
      const callSid = newCallSid();
      const streamUrl = await t.answerWebhook(callSid, `persona=${row.persona}`);
      const answeredAt = performance.now();
      await sleep(row.gapMs);
      const call = await t.connectStream(streamUrl, callSid);
      const openedAt = performance.now();
      call.connected();
      await sleep(START_AFTER_MS);
      const startAt = performance.now();
      call.start({ persona: row.persona });
      const first = await call.waitFor("media");
      firstWord.push(first.at - startAt);
      upstream.push(first.at - (row.prewarm ? answeredAt : openedAt));
      call.stop();
      await call.closed;
    });
    await Promise.all(batch);
  }
  return {
    engine: row.engine,
    prewarm: row.prewarm,
    gapMs: row.gapMs,
    calls: row.calls,
    p50: percentile(firstWord, 50),
    p95: percentile(firstWord, 95),
    upstreamP50: percentile(upstream, 50),
  };
}

/** The rows as a table, with the target of each pre-warmed row. */
export function firstWordTable(rows: FirstWordRow[]): string[] {
  const lines = [
    `First word: start → first greeting frame at Twilio (fake OpenAI: ${HANDSHAKE_MS} ms handshake + ${FIRST_AUDIO_MS} ms to first audio)`,
    "engine    pre-warm  gap ms  calls  p50 ms  p95 ms  upstream's own ms (p50)  target",
  ];
  for (const r of rows) {
    let target = "";
    if (r.prewarm) {
      const own = rows.find((o) => o.engine === r.engine && !o.prewarm && o.gapMs === r.gapMs)?.upstreamP50 ??
        NaN;
      const bound = r.gapMs >= own ? 20 : own - r.gapMs + 10;
      target = `≤ ${bound.toFixed(0)} ms p50 ${r.p50 <= bound ? "✓" : "✗ not met"}`;
    }
    lines.push(
      `${r.engine.padEnd(9)} ${(r.prewarm ? "on" : "off").padEnd(9)} ${String(r.gapMs).padStart(6)} ${
        String(r.calls).padStart(6)
      } ${r.p50.toFixed(1).padStart(7)} ${r.p95.toFixed(1).padStart(7)} ${
        (r.prewarm ? "" : r.upstreamP50.toFixed(1)).padStart(24)
      }  ${target}`,
    );
  }
  return lines;
}

if (import.meta.main) {
  const smoke = Deno.args.includes("--smoke");
  const rows = await runFirstWord({
    calls: smoke ? 5 : 50,
    gaps: smoke ? [400] : [400, 700],
    dir: new URL("results/", import.meta.url).pathname,
  });
  for (const line of firstWordTable(rows)) console.log(line);
}
