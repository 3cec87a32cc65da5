/**
 * RECORDINGS_DIR fills up mid-call (a tmpfs filled to the last byte): the call goes on, the failure is
 * reported once, and what was written before it is kept. When the call ends the recording is closed
 * like one a crash left (its header rewritten from its length, marked `repaired`), so it is served
 * and announced at once rather than sitting in state `recording` until the next start. When the disk
 * is still full at the call's end, the recording's final state is tried again until the folder has
 * room, and then it is finished and announced, with no restart.
 */

import { canMountTinyDisk, fillDisk, tinyDisk, unmountTinyDisk } from "../../testing/tiny_disk.ts";
import { callGoesOnBothWays } from "../../testing/both_ways.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type RecordingInfo, RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { readWav, WAV_HEADER_BYTES } from "../../src/recordings/wav.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";

const PERSONAS_DIR = new URL("../testdata/recording_personas", import.meta.url).pathname;
const API_TOKEN = "recording-full-token-0123456789abcdef";

/** The size of `path` once it is larger than `bytes`, looking each time `tick` resolves. */
async function grownPast(path: string, bytes: number, tick: () => Promise<unknown>): Promise<number> {
  for (;;) {
    const size = await Deno.stat(path).then((s) => s.size, () => 0);
    if (size > bytes) return size;
    await tick();
  }
}

Deno.test({
  name:
    "RECORDINGS_DIR full mid-call: the call goes on, and at its end what was recorded is kept, served and marked repaired",
  ignore: !canMountTinyDisk, // needs root to mount a tmpfs
  async fn() {
    const disk = (await tinyDisk(256))!;
    const recordings = new RecordingsDir(join(disk, "recordings"));
    const announced: RecordingInfo[] = [];
    recordings.subscribe((info) => announced.push(info)); // what recording.ready and the bucket hear
    const t = await startTestParley({
      personasDir: PERSONAS_DIR,
      env: { DEFAULT_PERSONA: "recorder", API_TOKEN },
      recordings,
    });
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => stop = resolve);
    try {
      const call = await t.startCall({ persona: "recorder" });
      const session = await t.upstream.session(0);
      await session.waitFor("response.create");
      const caller = sendFrames(call, { frame: new Uint8Array(160).fill(0x20), until: stopped });
      await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(300, 0x11) });
      await within(call.waitFor("media"), "the greeting");
      const wav = recordings.wavPath(call.callSid);
      // Half a second of audio is on disk; then the disk fills to the last byte.
      const kept = await within(
        grownPast(wav, WAV_HEADER_BYTES, () => session.waitFor("input_audio_buffer.append")),
        "the first write",
      );
      await fillDisk(join(disk, "filler"));
      const report = await within(t.waitForLog(/Cannot record call/), "the report", 10_000);
      assert.match(report, new RegExp(`Cannot record call ${call.callSid}: .*No space.*the call goes on`));

      // The call goes on both ways.
      await callGoesOnBothWays(call, session, { callerFrame: false, when: "after the disk filled" });

      await Deno.remove(join(disk, "filler")); // space again: the call's end may write the state
      stop();
      await caller;
      call.stop();
      await within(t.waitForEvent("call.ended", (e) => e.callSid === call.callSid), "the end");
      await within(recordings.settle(), "the recording's file work");

      const info = (await recordings.info(call.callSid))!;
      assert.equal(info.state, "repaired", "closed at the call's end, not left recording");
      assert.deepEqual(announced, [info], "announced as finished");
      const bytes = await Deno.readFile(wav);
      assert.ok(
        bytes.length >= kept,
        `what was written before the disk filled is kept (${bytes.length} bytes)`,
      );
      const parsed = readWav(bytes);
      assert.equal(
        info.durationMs,
        Math.round(parsed.channels[0]!.length / parsed.sampleRate * 1000),
        "the header's length",
      );
      assert.ok(info.durationMs! >= 100, `${info.durationMs} ms kept`);
      const served = await fetch(`${t.origin}/api/calls/${call.callSid}/recording`, {
        headers: { Authorization: `Bearer ${API_TOKEN}` },
      });
      assert.equal(served.status, 200);
      assert.equal(served.headers.get("x-recording-state"), "repaired");
      assert.deepEqual(new Uint8Array(await served.arrayBuffer()), bytes);
      assert.equal(t.logs.filter((l) => /Cannot record call/.test(l.line)).length, 1, "reported once");
    } finally {
      stop();
      await t.close();
      await unmountTinyDisk(disk);
    }
  },
});

Deno.test({
  name:
    "RECORDINGS_DIR still full at the call's end: the recording is finished (repaired) once the folder has room, with no restart",
  ignore: !canMountTinyDisk,
  async fn() {
    const disk = (await tinyDisk(256))!;
    const recordings = new RecordingsDir(join(disk, "recordings"), Date.now, { finalStateRetryMs: 50 });
    const announced: RecordingInfo[] = [];
    let heard!: () => void;
    const announcedOnce = new Promise<void>((resolve) => heard = resolve);
    recordings.subscribe((info) => {
      announced.push(info);
      heard();
    });
    const t = await startTestParley({
      personasDir: PERSONAS_DIR,
      env: { DEFAULT_PERSONA: "recorder", API_TOKEN },
      recordings,
    });
    try {
      const call = await t.startCall({ persona: "recorder" });
      const session = await t.upstream.session(0);
      await session.waitFor("response.create");
      await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(300, 0x11) });
      await within(call.waitFor("media"), "the greeting");
      const wav = recordings.wavPath(call.callSid);
      const kept = await within(
        grownPast(wav, WAV_HEADER_BYTES, () => {
          call.sendMedia(new Uint8Array(160).fill(0x20));
          return session.waitFor("input_audio_buffer.append");
        }),
        "the first write",
      );
      await fillDisk(join(disk, "filler"));
      call.stop(); // the call ends with the disk still full
      await within(t.waitForEvent("call.ended", (e) => e.callSid === call.callSid), "the end");
      const report = await within(
        t.waitForLog(/final state \(\w+\) could not be written/),
        "the report",
        10_000,
      );
      assert.match(
        report,
        new RegExp(
          `Cannot record call ${call.callSid}: its final state \\((repaired|complete)\\) could not be written \\(.*No space.*\\): tried again every 0\\.05 s`,
        ),
      );
      assert.equal((await recordings.info(call.callSid))?.state, "recording", "not finished yet");
      assert.deepEqual(announced, []);

      await Deno.remove(join(disk, "filler")); // room again: no restart needed
      await within(announcedOnce, "the recording finished once the folder had room");
      const info = (await recordings.info(call.callSid))!;
      assert.ok(info.state === "repaired" || info.state === "complete", info.state);
      assert.deepEqual(announced, [info], "announced once");
      const bytes = await Deno.readFile(wav);
      assert.ok(bytes.length >= kept, `what was written is kept (${bytes.length} bytes)`);
      assert.equal(
        info.durationMs,
        Math.round(readWav(bytes).channels[0]!.length / 8 /* samples a ms */),
        "the header's length",
      );
      const served = await fetch(`${t.origin}/api/calls/${call.callSid}/recording`, {
        headers: { Authorization: `Bearer ${API_TOKEN}` },
      });
      assert.equal(served.status, 200);
      assert.equal(served.headers.get("x-recording-state"), info.state);
      assert.deepEqual(new Uint8Array(await served.arrayBuffer()), bytes);
    } finally {
      await t.close();
      await unmountTinyDisk(disk);
    }
  },
});
