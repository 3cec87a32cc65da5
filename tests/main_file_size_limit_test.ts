/**
 * A file size limit reached mid-call (`prlimit --fsize`, as `ulimit -f` or systemd's `LimitFSIZE=`
 * would set it) on the real process: a write past the limit raises SIGXFSZ, whose default action ends
 * the process and every call with it. Parley ignores the signal, so the write fails with EFBIG
 * instead: the call goes on both ways, the failure is logged naming the limit, and the events written
 * while the limit held land once it is raised.
 */

import { callGoesOnBothWays } from "../testing/both_ways.ts";
import assert from "node:assert/strict";
import { FakeRealtimeServer } from "../testing/fake_realtime.ts";
import { within } from "../testing/within.ts";
import {
  greetedProcessCall,
  listeningPort,
  type ParleyProcess,
  PROCESS_API_TOKEN,
  processEnv,
  reap,
  spawnParley,
} from "../testing/parley_process.ts";

/** Sets the running process's soft file size limit, in bytes ("unlimited" lifts it). */
async function limitFileSize(pid: number, bytes: number | "unlimited"): Promise<void> {
  const { code, stderr } = await new Deno.Command("prlimit", {
    args: ["--pid", String(pid), `--fsize=${bytes}:unlimited`],
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

/** `waiting`, or a failure naming how the process ended if it ends first. */
function whileAlive<T>(parley: ParleyProcess, waiting: Promise<T>): Promise<T> {
  return Promise.race([
    waiting,
    parley.child.status.then((status) => {
      throw new Error(`Parley exited (${status.signal ?? status.code}):\n${parley.stderr.lines.join("\n")}`);
    }),
  ]);
}

Deno.test("a file size limit reached mid-call ends no call; the events written meanwhile land once it is raised", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir({ prefix: "parley_fsize_" });
  const parley = await spawnParley("start", processEnv({ upstreamUrl: upstream.url, dataDir }));
  try {
    const port = await listeningPort(parley);
    const { call, session } = await greetedProcessCall(port, upstream);

    // From here no file of the process may grow past 4 KiB: parley.db and its WAL are larger.
    await limitFileSize(parley.child.pid, 4096);
    session.send({
      type: "conversation.item.input_audio_transcription.completed",
      item_id: "u1",
      transcript: "Hi",
    });
    const failing = await within(
      whileAlive(parley, parley.stderr.waitFor(/Call store cannot write/)),
      "the report",
    );
    assert.match(failing, /calls go on/);
    assert.match(
      await within(parley.stderr.waitFor(/file size limit/), "the limit named"),
      /file size limit \(RLIMIT_FSIZE, ulimit -f\): it failed \(File too large\).*the calls go on/,
    );

    // The call goes on both ways while the disk refuses.
    await callGoesOnBothWays(call, session, { transcript: "Still here", when: "past the limit" });

    await limitFileSize(parley.child.pid, "unlimited");
    await within(parley.stderr.waitFor(/Call store writes again/), "writes again once the limit is raised");
    call.stop();
    await within(parley.stdout.waitFor(/Call ended: .*reason=caller_hung_up/), "the call ends normally");

    const response = await fetch(`http://127.0.0.1:${port}/api/calls/${call.callSid}`, {
      headers: { authorization: `Bearer ${PROCESS_API_TOKEN}` },
    });
    assert.equal(response.status, 200);
    const record = await response.json();
    assert.deepEqual(record.transcript.map((l: { text: string }) => l.text), ["Hello", "Hi", "Still here"]);
    assert.equal(record.endReason, "caller_hung_up");
    parley.child.kill("SIGTERM");
    assert.equal((await within(parley.child.status, "the exit")).code, 0);
  } finally {
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
