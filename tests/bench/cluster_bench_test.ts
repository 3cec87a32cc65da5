/**
 * `deno task bench --cluster=N` (issue 19): its flags, its verdict on the relay p99, and the fake
 * upstream telling a cluster's sessions apart (a probe answered on two instances is still the probe's;
 * a pre-warm the call never used is counted, not taken for lost frames), and every instance measured
 * like a single relay (under --expose-gc with the GC hook, each collected before RSS is read).
 */

import assert from "node:assert/strict";
import { judgeP99, NOISE_FLOOR_MS, verdictLine } from "../../bench/_mode_cluster.ts";
import { parseOptions } from "../../bench/_options.ts";
import { RealtimeBenchUpstream } from "../../bench/_realtime_upstream.ts";
import { singleProcess } from "../../bench/_relay_under_test.ts";
import { collectGarbage, collectGarbageIn, relaySpec, startRelay } from "../../bench/_relays.ts";
import { FrameLedger } from "../../testing/frames.ts";
import { newCallSid } from "../../testing/twilio_webhook.ts";
import { within } from "../../testing/within.ts";

Deno.test("--cluster=3 runs the cluster mode: 50 calls, results in cluster.*; a bad size or a second mode is named", () => {
  const options = parseOptions(["--cluster=3"]);
  assert.equal(options.mode, "cluster");
  assert.equal(options.clusterSize, 3);
  assert.deepEqual(options.calls, [50]);
  assert.equal(options.out, "cluster");
  assert.equal(parseOptions([]).clusterSize, undefined);
  assert.deepEqual(parseOptions(["--cluster=2", "--calls=5", "--duration=3"]).calls, [5]);
  assert.throws(
    () => parseOptions(["--cluster=1"]),
    /--cluster: "1" is not a number of instances from 2 to 9/,
  );
  assert.throws(() => parseOptions(["--cluster=many"]), /--cluster: "many" is not a number/);
  assert.throws(() => parseOptions(["--cluster"]), /--cluster: "" is not a number/);
  assert.throws(() => parseOptions(["--cluster=3", "--soak"]), /--cluster .* does not go with --soak/);
  assert.throws(() => parseOptions(["--cluster=3", "--relay=bare"]), /does not go with --relay/);
});

Deno.test("the cluster's relay p99 is judged against the two single-instance runs around it", () => {
  // The single-instance runs landed 0.6 ms apart: that is the run's noise.
  const judged = judgeP99(2.0, [1.2, 1.8]);
  assert.ok(Math.abs(judged.noise - 0.6) < 1e-9, `noise ${judged.noise}`);
  assert.equal(judged.withinNoise, true);
  assert.equal(judgeP99(2.5, [1.2, 1.8]).withinNoise, false);
  // Two single runs that agree still leave the floor's worth of noise.
  assert.equal(judgeP99(1.0 + NOISE_FLOOR_MS, [1.0, 1.0]).withinNoise, true);
  assert.equal(judgeP99(1.0 + NOISE_FLOOR_MS + 0.01, [1.0, 1.0]).withinNoise, false);
  // Below the single runs is within noise too.
  assert.equal(judgeP99(0.5, [1.0, 1.1]).withinNoise, true);
  const line = verdictLine({ up: judgeP99(2.0, [1.2, 1.8]), down: judgeP99(3.0, [1.0, 1.1]) }, 3);
  assert.match(line, /^Relay p99 of 3 instances on Postgres within noise of a single instance: ✗ no/);
  assert.match(line, /caller→OpenAI p99 2\.00 ms vs 1\.20 \/ 1\.80 ms alone \(noise 0\.60 ms\) ✓/);
  assert.match(line, /OpenAI→caller p99 3\.00 ms vs 1\.00 \/ 1\.10 ms alone \(noise 0\.25 ms\) ✗$/);
});

/** A relay's session to the fake: configured with `instructions`, then asking for the greeting. */
async function openSession(url: string, instructions: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  await within(new Promise((resolve) => socket.onopen = resolve), "the session to open");
  socket.send(JSON.stringify({ type: "session.update", session: { type: "realtime", instructions } }));
  socket.send(JSON.stringify({ type: "response.create" }));
  return socket;
}

Deno.test("bench fake: a probe answered on two instances is the probe's; an unused pre-warm is counted apart", async () => {
  const up = new FrameLedger();
  const down = new FrameLedger();
  const fake = RealtimeBenchUpstream.start({ up, down, calls: 1 });
  const sockets: WebSocket[] = [];
  try {
    const probe = newCallSid();
    fake.expectProbe(probe);
    // The webhook's instance pre-warms; the media socket's instance opens its own: both the probe's.
    for (let i = 0; i < 2; i++) {
      const socket = await openSession(fake.url, `You are testing. Lead: unknown. Call: ${probe}.`);
      sockets.push(socket);
      const greeting = new Promise((resolve) =>
        socket.onmessage = (e) => e.data.includes("output_audio.delta") && resolve(e)
      );
      await within(greeting, `session ${i + 1}'s greeting`);
    }
    assert.ok(fake.probeLedger.counts().sent >= 2, "the probe's deltas are counted apart");
    assert.equal(down.counts().sent, 0, "no probe delta is taken for the load's");

    // A load call pre-warmed on one instance, its socket on another: the pre-warm speaks to no one.
    const unused = await openSession(fake.url, `You are testing. Lead: unknown. Call: ${newCallSid()}.`);
    const spoke = new Promise((resolve) =>
      unused.onmessage = (e) => e.data.includes("output_audio.delta") && resolve(e)
    );
    await within(spoke, "the pre-warm's greeting");
    const closed = new Promise((resolve) => unused.onclose = resolve);
    unused.close();
    await closed;
  } finally {
    for (const socket of sockets) socket.close();
    await fake.close();
  }
  assert.equal(fake.counts.unusedPrewarms, 1);
  assert.ok(fake.counts.unusedPrewarmDeltas >= 1);
  assert.equal(
    fake.counts.unusedPrewarmDeltas,
    down.counts().sent,
    "every load delta was the unused pre-warm's",
  );
});

Deno.test("a cluster instance runs like a single Parley under the bench: --expose-gc, the GC hook, its name and environment", async () => {
  const spec = await relaySpec("parley", "ws://127.0.0.1:9/v1/realtime", {
    dataDir: "bench/results/.data-test/instance-1",
    profileDir: undefined,
    name: "Parley #1 (Postgres)",
    env: { DATABASE_URL: "postgres://bench@127.0.0.1:9/bench", INSTANCE_ID: "bench-1" },
  });
  assert.equal(spec.name, "Parley #1 (Postgres)");
  assert.equal(spec.env.DATABASE_URL, "postgres://bench@127.0.0.1:9/bench");
  assert.equal(spec.env.INSTANCE_ID, "bench-1");
  assert.ok(spec.args.includes("--v8-flags=--expose-gc"), spec.args.join(" "));
  assert.ok(spec.args.includes("bench/_gc_main.ts"), spec.args.join(" "));
});

Deno.test("every relay process of a run is collected before RSS is read: one GC in each, heaps summed", async () => {
  const launch = { dataDir: "bench/results/.data-test", profileDir: undefined };
  const relays = await Promise.all(
    [1, 2].map((i) => startRelay("bare", "ws://127.0.0.1:9/v1/realtime", { ...launch, name: `floor #${i}` })),
  );
  try {
    assert.deepEqual(
      singleProcess(relays[0]!, false).servers,
      [relays[0]],
      "a single relay is its own GC target",
    );
    const heaps = await collectGarbageIn(relays, 1);
    assert.ok(heaps > 0, "the heaps after the GC are reported");
    // Each process answered GC #1 (and only its own): the next one is #2 in both.
    for (const relay of relays) assert.ok(await collectGarbage(relay, 2) > 0, relay.name);
  } finally {
    await Promise.all(relays.map((relay) => relay.stop(2_000)));
  }
});
