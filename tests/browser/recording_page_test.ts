/**
 * The call page of a recorded call in Chromium: a player for the recording, transcript lines that seek
 * it when clicked (the browser fetching the WAV by byte ranges), the line being played highlighted. The
 * same with RECORDINGS_S3_URL: the recording stored in a local `npm:s3rver` bucket and served from there.
 */

import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { launchChromium, screenshot } from "./_chromium.ts";
import { signIn, TEST_API_TOKEN } from "./_signed_in.ts";
import { callDatabasePath, openCallStore } from "../../src/store/sqlite/call_store.ts";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import type { RecordingSource } from "../../src/recordings/serve_wav.ts";
import { S3Recordings } from "../../src/recordings/s3_recordings.ts";
import { createLogger } from "../../src/log.ts";
import { startFakeS3 } from "../../testing/fake_s3.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";

/** The page's globals these checks read (the test runs without the DOM's types). */
interface PageGlobals {
  document: { querySelector(selector: string): (AudioLike & { textContent: string | null }) | null };
}
/** What the checks read of the `<audio>`. */
interface AudioLike {
  currentTime: number;
  duration: number;
  readyState: number;
  pause(): void;
  addEventListener(type: "seeked", listener: () => void, options: { once: true }): void;
}
/** Where a click on a transcript line moved the player, and the line highlighted then. */
interface Seek {
  at: number;
  playing: string;
}
/** The page's globals while a seek is awaited. */
interface SeekGlobals extends PageGlobals {
  seeked?: Promise<Seek>;
}

/**
 * Clicks `line` and resolves with where the player seeked to and the line highlighted at that moment,
 * read in the `seeked` event itself and paused there: a loaded machine can be late to look, but the
 * audio cannot have played on.
 */
async function seekByClicking(page: Page, line: Locator): Promise<Seek> {
  await page.evaluate(() => {
    const page = globalThis as unknown as SeekGlobals;
    const audio = page.document.querySelector("#player")!;
    page.seeked = new Promise((resolve) =>
      audio.addEventListener("seeked", () => {
        audio.pause();
        const playing = page.document.querySelector("#transcript li.playing")?.textContent ?? "";
        resolve({ at: audio.currentTime, playing });
      }, { once: true })
    );
  });
  await line.click();
  return await page.evaluate(() => (globalThis as unknown as SeekGlobals).seeked!);
}

const PERSONAS_DIR = new URL("../testdata/recording_personas", import.meta.url).pathname;

/** Where the checked call is recorded, and served from. */
interface Storage {
  recordings: RecordingsDir;
  /** @default the `recordings` folder */
  recordingSource?: RecordingSource;
  /** Resolves once the ended call's recording is where it is served from (the bucket). */
  stored?: (callSid: string) => Promise<void>;
}

/**
 * Records a 3 s call in a Parley on `dir`, stored per `storage`, then opens its call page in Chromium:
 * the player's duration is the call's, a clicked transcript line seeks the player (fetched by byte
 * ranges) to where the line was said and highlights it.
 */
async function assertCallPageSeeks(dir: string, storage: Storage): Promise<void> {
  const store = openCallStore(callDatabasePath(dir));
  const t = await startTestParley({
    personasDir: PERSONAS_DIR,
    store,
    recordings: storage.recordings,
    ...(storage.recordingSource === undefined ? {} : { recordingSource: storage.recordingSource }),
    env: { API_TOKEN: TEST_API_TOKEN, DEFAULT_PERSONA: "recorder" },
  });
  try {
    // A 3 s call: the agent answers at once (0.5 s), the caller speaks once it was heard, twice for 1 s.
    const call = await t.startCall({ persona: "recorder" });
    await within(t.waitForEvent("call.started", (e) => e.callSid === call.callSid), "the start");
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    await session.streamResponse({
      responseId: "resp_1",
      itemId: "item_1",
      audio: toneBytes(500, 0x11),
      transcript: "Hello, this call is recorded.",
    });
    const say = async (ms: number, text: string) => {
      session.speechStarted(`u_${text.length}`);
      await sendFrames(call, { frame: new Uint8Array(160).fill(0x20), forMs: ms });
      session.speechStopped(`u_${text.length}`);
      session.send({
        type: "conversation.item.input_audio_transcription.completed",
        item_id: `u_${text.length}`,
        content_index: 0,
        transcript: text,
      });
    };
    // The greeting plays out first: the lines stay further apart than the page's 50 ms highlight slack
    // (the caller starting at once, 56 ms after the greeting, made a seek to it highlight the caller).
    await sendFrames(call, { frame: new Uint8Array(160).fill(0xff), forMs: 600 });
    await say(1_000, "Hi there.");
    await say(1_000, "Tell me more.");
    await within(t.waitForEvent("transcript", (e) => e.text === "Tell me more."), "the last line");
    await sendFrames(call, { frame: new Uint8Array(160).fill(0xff), forMs: 500 });
    call.close();
    await within(t.waitForEvent("call.ended", (e) => e.callSid === call.callSid), "the end");
    const record = await store.getCall(call.callSid);
    assert.equal(record?.transcript.length, 3);
    await storage.stored?.(call.callSid);

    await using browser = await launchChromium(["--autoplay-policy=no-user-gesture-required"]);
    const page = await browser.context.newPage();
    const ranges: number[] = [];
    page.on("response", (response) => {
      if (response.url().endsWith("/recording") && response.request().headers().range !== undefined) {
        ranges.push(response.status());
      }
    });
    await signIn(page, t.origin, `/calls/${call.callSid}`);
    const player = page.locator("#player");
    await player.waitFor({ state: "visible" });
    await page.waitForFunction(() => {
      const audio = (globalThis as unknown as PageGlobals).document.querySelector("#player");
      return audio !== null && audio.readyState >= 1 && Number.isFinite(audio.duration) && audio.duration > 0;
    });
    const duration = await player.evaluate((audio) => (audio as unknown as AudioLike).duration);
    const callMs = record!.endedAt! - record!.startedAt!;
    assert.ok(Math.abs(duration * 1000 - callMs) < 100, `recording ${duration} s, call ${callMs} ms`);

    const third = page.locator("#transcript li").nth(2);
    assert.match(await third.innerText(), /Tell me more/);
    const offset = Number(await third.getAttribute("data-offset"));
    // Placed where the caller began to say it (the speech start), a second before its text came.
    const said = record!.transcript[2]!;
    assert.ok(
      said.spokenAt !== null && said.at - said.spokenAt >= 900,
      `spoken ${said.spokenAt}, text ${said.at}`,
    );
    const expected = (said.spokenAt! - record!.startedAt!) / 1000;
    assert.ok(Math.abs(offset - expected) < 0.001, `line placed at ${offset} s, said at ${expected} s`);
    const toThird = await seekByClicking(page, third);
    assert.ok(Math.abs(toThird.at - offset) < 0.05, `seeked to ${toThird.at} s for a line at ${offset} s`);
    assert.match(toThird.playing, /Tell me more/);
    assert.match(await page.locator("#transcript li.playing").innerText(), /Tell me more/);
    assert.ok(ranges.includes(206), `the browser fetched by range: ${ranges}`);

    // The agent's greeting: placed where its first audio played, the start of the call.
    const first = page.locator("#transcript li").nth(0);
    const firstOffset = Number(await first.getAttribute("data-offset"));
    assert.ok(firstOffset < 1, `the greeting placed at ${firstOffset} s`);
    const toFirst = await seekByClicking(page, first);
    assert.ok(
      Math.abs(toFirst.at - firstOffset) < 0.05,
      `seeked to ${toFirst.at} s for a line at ${firstOffset} s`,
    );
    assert.match(toFirst.playing, /Hello/);
    await screenshot(page, "call-recording");
  } finally {
    await t.close();
    store.close();
  }
}

Deno.test("the call page plays the recording, and a clicked transcript line seeks it (by byte ranges) and is highlighted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_recording_page_" });
  try {
    await assertCallPageSeeks(dir, { recordings: new RecordingsDir(`${dir}/recordings`) });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with RECORDINGS_S3_URL, the call page plays the recording from the bucket, and a clicked transcript line seeks it (by byte ranges)", async () => {
  await using s3 = await startFakeS3();
  const dir = await Deno.makeTempDir({ prefix: "parley_recording_page_s3_" });
  const spool = new RecordingsDir(`${dir}/recordings`);
  const bucket = new S3Recordings(
    s3.settings(),
    spool,
    createLogger({ sink: () => {}, secrets: [s3.secretAccessKey] }),
  );
  // As main.ts wires it: a finished recording is uploaded, then the local copy removed.
  const uploaded = Promise.withResolvers<string>();
  spool.onFinished = (info) => void bucket.upload(info).then(() => uploaded.resolve(info.callSid));
  try {
    await assertCallPageSeeks(dir, {
      recordings: spool,
      recordingSource: bucket,
      stored: async (callSid) => {
        assert.equal(await within(uploaded.promise, "the upload"), callSid);
        assert.deepEqual(await s3.keys(), [`${callSid}.wav`]);
        assert.equal(await spool.info(callSid), undefined, "only the bucket has it");
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
