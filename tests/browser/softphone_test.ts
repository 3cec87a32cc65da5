/**
 * The softphone in real headless Chromium with a fake microphone playing a WAV made here with
 * espeak-ng and sox: the browser encodes μ-law in an AudioWorklet, speaks the Media Stream
 * protocol to Parley, plays the agent's audio, echoes marks as it plays them and empties its queue
 * on `clear`.
 */

import assert from "node:assert/strict";
import { decodeMulawSample } from "../../src/audio/mulaw.ts";
import { launchChromium, screenshot } from "./_chromium.ts";
import { signIn, startRig } from "./_signed_in.ts";
import { fromBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { within } from "../../testing/within.ts";

/** 1 s of silence, a spoken sentence, 1.5 s of silence: 8 kHz mono WAV. */
async function speechWav(dir: string): Promise<string> {
  const run = async (command: string, args: string[]) => {
    const { code, stderr } = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" })
      .output();
    if (code !== 0) throw new Error(`${command} failed: ${new TextDecoder().decode(stderr)}`);
  };
  await run("espeak-ng", ["-w", `${dir}/speech.wav`, "Hello, I would like to book a demo for next Tuesday."]);
  await run("sox", [
    `${dir}/speech.wav`,
    "-r",
    "48000",
    "-b",
    "16",
    "-c",
    "1",
    `${dir}/mic.wav`,
    "pad",
    "1",
    "1.5",
  ]);
  return `${dir}/mic.wav`;
}

/** What the persona page exposes for tests. */
interface PageGlobals {
  softphone: {
    callSid(): string;
    stats: { marksEchoed: number; lastMarkEchoed: string; queuedMs: number; framesSent: number };
  };
}

/** RMS of each 100 ms window. */
function windowRms(bytes: Uint8Array): number[] {
  const rms: number[] = [];
  for (let start = 0; start + 800 <= bytes.length; start += 800) {
    let sum = 0;
    for (let i = start; i < start + 800; i++) sum += (decodeMulawSample(bytes[i]!) / 32768) ** 2;
    rms.push(Math.sqrt(sum / 800));
  }
  return rms;
}

Deno.test("softphone: the browser talks to a persona through the relay, with marks and clear", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "parley_softphone_" });
  try {
    const wav = await speechWav(dir);
    await using rig = await startRig();
    await using browser = await launchChromium([
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${wav}`,
      "--autoplay-policy=no-user-gesture-required",
    ]);
    const { origin } = rig.parley;
    const page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
    let failed = false;
    const step = async (name: string, body: () => Promise<void>) => {
      if (!failed) failed = !(await t.step(name, body));
    };

    await step("the persona page previews what a call would send", async () => {
      await signIn(page, origin, "/personas/alex");
      await page.getByLabel("Sample parameters").fill("lead=Dana\ncompany=Acme");
      await page.getByRole("button", { name: "Render" }).click();
      await page.locator("#instructions", { hasText: "Dana at Acme" }).waitFor();
      assert.match(await page.locator("#opening").textContent() ?? "", /"type": "session.update"/);
      assert.match(await page.locator("#problems").innerText(), /None/);
    });

    await step(
      "Talk opens the microphone: Parley receives μ-law with speech where the WAV has speech",
      async () => {
        await page.getByLabel("Voice").selectOption("coral");
        await page.getByRole("button", { name: "Talk" }).click();
        const session = await within(rig.parley.upstream.session(0), "the upstream session", 10_000);
        const update = await within(session.waitFor("session.update"), "session.update");
        assert.equal(update.session.audio.output.voice, "coral");
        // 5 s of caller audio: at least one whole pass through the WAV.
        await within(
          session.waitFor(
            "input_audio_buffer.append",
            () => session.eventsOf("input_audio_buffer.append").length >= 250,
          ),
          "5 s of microphone audio",
          20_000,
        );
        const frames = session.eventsOf("input_audio_buffer.append").map((e) => fromBase64(e.audio));
        assert.ok(frames.every((f) => f.length === 160), "20 ms frames of 160 μ-law bytes");
        const bytes = new Uint8Array(frames.length * 160);
        frames.forEach((f, i) => bytes.set(f, i * 160));
        const rms = windowRms(bytes);
        const loud = rms.filter((r) => r > 0.02).length;
        const quiet = rms.filter((r) => r < 0.005).length;
        assert.ok(
          loud >= 10,
          `at least 1 s of speech energy (windows: ${rms.map((r) => r.toFixed(3)).join(" ")})`,
        );
        assert.ok(
          quiet >= 5,
          `at least 0.5 s of silence (windows: ${rms.map((r) => r.toFixed(3)).join(" ")})`,
        );
        await screenshot(page, "softphone");
      },
    );

    await step("the agent's audio plays in the page: its marks come back as it plays", async () => {
      const session = await rig.parley.upstream.session(0);
      session.speechStopped();
      await session.streamResponse({ responseId: "resp_1", itemId: "item_1", audio: toneBytes(600, 0x20) });
      const turn = await within(rig.parley.waitForEvent("turn.latency"), "a turn latency", 10_000);
      assert.ok(turn.firstAudioHeardMs !== undefined, "the page echoed the mark when it played the audio");
      assert.ok(turn.firstAudioHeardMs >= turn.firstAudioSentMs);
      // Played out: the page echoed the answer's last mark (its 600 ms). An empty queue alone is no
      // proof: the start mark is echoed before the first audio reaches the queue.
      await page.waitForFunction(() =>
        (globalThis as unknown as PageGlobals).softphone.stats.lastMarkEchoed === "item_1:600" &&
        (globalThis as unknown as PageGlobals).softphone.stats.queuedMs === 0
      );
    });

    await step("a clear empties the page's queue", async () => {
      const session = await rig.parley.upstream.session(0);
      const streaming = session.streamResponse({
        responseId: "resp_2",
        itemId: "item_2",
        audio: toneBytes(6000, 0x20),
        transcript: "Let me tell you all about our scheduler",
      });
      await page.waitForFunction(() =>
        (globalThis as unknown as PageGlobals).softphone.stats.queuedMs > 3000
      );
      session.speechStarted();
      const truncate = await within(session.waitFor("conversation.item.truncate"), "the truncate");
      assert.equal(truncate.item_id, "item_2");
      assert.ok(truncate.audio_end_ms < 3000, `truncated at ${truncate.audio_end_ms} ms of 6000`);
      // Playing out would take over 3 s; a clear empties the queue at once.
      await page.waitForFunction(
        () => (globalThis as unknown as PageGlobals).softphone.stats.queuedMs === 0,
        null,
        { timeout: 1500 },
      );
      await streaming;
    });

    await step("the page shows the transcript while you talk, both sides", async () => {
      const session = await rig.parley.upstream.session(0);
      session.send({
        type: "conversation.item.input_audio_transcription.completed",
        item_id: "item_caller_1",
        content_index: 0,
        transcript: "Hello, I would like to book a demo.",
      });
      await page.locator("#talk-transcript li.caller", { hasText: "You:Hello, I would like to book a demo." })
        .waitFor();
      await page.locator("#talk-transcript li.agent", { hasText: "Let me tell you all about our scheduler" })
        .waitFor();
      assert.equal(await page.locator("#talk-transcript li").count(), 2, "each line once");
      await screenshot(page, "softphone-transcript");
    });

    await step("hanging up ends the call, recorded with direction browser", async () => {
      const callSid = await page.evaluate(() => (globalThis as unknown as PageGlobals).softphone.callSid());
      await page.getByRole("button", { name: "Hang up" }).click();
      await within(rig.parley.waitForEvent("call.ended"), "the end of the call");
      await page.locator("#softphone-status", { hasText: "Call ended" }).waitFor();
      const record = await rig.store.getCall(callSid);
      assert.equal(record?.direction, "browser");
      assert.equal(record?.persona, "alex");
      assert.equal(record?.parameters.voice, "coral");
      // The call's page shows the cut-off answer as interrupted, in words.
      await page.goto(`${origin}/calls/${callSid}`);
      await page.locator("#transcript li.agent", { hasText: /interrupted after \d+ ms/ }).waitFor();
      assert.equal(await page.locator("#number").innerText(), "this browser");
    });
    await page.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
