/**
 * A recording a crash left unfinished is repaired at the next start of `main.ts` and then announced:
 * its `recording.ready` (state `repaired`) reaches the receiver signed, and its link serves the repaired
 * WAV from the new process without the API token.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import {
  listeningPort,
  type ParleyProcess,
  processEnv,
  reap,
  REPO,
  spawnParley,
} from "../../testing/parley_process.ts";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { within } from "../../testing/within.ts";
import { FRAME_BYTES, SAMPLE_RATE, WAV_HEADER_BYTES, wavHeader } from "../../src/recordings/wav.ts";
import { SECRET } from "./_call.ts";

const CALL_SID = "CA00000000000000000000000000crash";

Deno.test("a recording repaired at startup is announced by a signed recording.ready whose link serves it", async () => {
  const upstream = FakeRealtimeServer.start();
  const receiver = await startWebhookReceiver(SECRET);
  const dataDir = await Deno.makeTempDir({ prefix: "parley_repaired_ready_" });
  let parley: ParleyProcess | undefined;
  try {
    // What a kill mid-call leaves: the state `recording`, a header without sizes, 1 s of samples.
    await Deno.mkdir(`${dataDir}/recordings`);
    await Deno.writeTextFile(
      `${dataDir}/recordings/${CALL_SID}.json`,
      JSON.stringify({
        callSid: CALL_SID,
        state: "recording",
        startedAt: Date.now() - 5_000,
        durationMs: null,
      }),
    );
    const samples = new Uint8Array(SAMPLE_RATE * FRAME_BYTES).fill(7);
    await Deno.writeFile(
      `${dataDir}/recordings/${CALL_SID}.wav`,
      new Uint8Array([...wavHeader(0), ...samples]),
    );

    parley = await spawnParley(
      "start",
      processEnv({
        upstreamUrl: upstream.url,
        dataDir,
        personasDir: `${REPO}tests/testdata/recording_personas`,
        defaultPersona: "recorder",
        inboundPersona: "plain",
      }, { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET }),
    );
    const port = await listeningPort(parley);
    await within(
      receiver.waitFor((r) => r.some((w) => w.body.type === "recording.ready")),
      "recording.ready of the repaired recording",
      15_000,
    );
    assert.deepEqual(receiver.rejected, []);
    const ready = receiver.received.find((w) => w.body.type === "recording.ready")!;
    assert.equal(ready.id, `msg_recording_ready_${CALL_SID}`);
    assert.equal(ready.body.data.state, "repaired");
    assert.equal(ready.body.data.durationMs, 1000);

    const url = new URL(String(ready.body.data.url));
    assert.equal(url.origin, "https://parley.test");
    const response = await fetch(`http://127.0.0.1:${port}${url.pathname}${url.search}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-recording-state"), "repaired");
    const bytes = new Uint8Array(await response.arrayBuffer());
    assert.equal(bytes.length, WAV_HEADER_BYTES + samples.length);
    assert.equal(
      new DataView(bytes.buffer).getUint32(WAV_HEADER_BYTES - 4, true),
      samples.length,
      "the header was repaired",
    );

    parley.child.kill("SIGTERM");
    assert.equal((await parley.child.status).code, 0);
  } finally {
    if (parley !== undefined) await reap(parley);
    await receiver.close();
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
