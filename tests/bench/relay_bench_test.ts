/**
 * The bench's closing line: a smoke run that passes never prints a failed verdict.
 */

import assert from "node:assert/strict";
import { medianRound, type RunFigures, type TargetChecks } from "../../bench/_mode_load.ts";
import { parseOptions, RELAY_KINDS } from "../../bench/_options.ts";
import { spawnServer } from "../../bench/_proc.ts";
import { collectGarbage, type RelayFigures, relaySpec, WindowGate } from "../../bench/_relays.ts";
import { addedCallMemory, targetSummary } from "../../bench/_report.ts";

// A loaded CI machine: latency, CPU and greeting targets missed, no frame lost.
const missed: TargetChecks = {
  latencyP99: false,
  cpuRatio: false,
  startToGreeting: false,
  rssPerCall: undefined,
  noFramesLost: true,
};

Deno.test("bench --smoke says latency targets are not judged instead of '✗ not met'", () => {
  const line = targetSummary(missed, 5, "smoke");
  assert.match(line, /^smoke: latency targets not judged/);
  assert.doesNotMatch(line, /not met/);
  assert.match(line, /0 frames lost ✓ met$/);
  assert.match(targetSummary({ ...missed, noFramesLost: false }, 5, "smoke"), /0 frames lost ✗ not met$/);
});

Deno.test("a full bench run still judges every target", () => {
  const line = targetSummary(missed, 50, "default");
  assert.match(line, /^Targets at 50 calls: latency p99 ≤ 1 ms ✗ not met · CPU ≤ 1\.15× bare ✗ not met/);
});

Deno.test("the bench judges issue 18's cost targets: CPU ≤ 1.15× the floor, RSS ≤ 300 KB per call", () => {
  const line = targetSummary({ ...missed, cpuRatio: true, rssPerCall: false }, 50, "default");
  assert.match(line, /CPU ≤ 1\.15× bare ✓ met/);
  assert.match(line, /RSS ≤ 0\.3 MB\/call ✗ not met/);
});

Deno.test("--probe-every sets how often a probe call starts; a bad value is named", () => {
  assert.equal(parseOptions([]).probeEveryMs, 250);
  assert.equal(parseOptions(["--soak"]).probeEveryMs, 1000);
  assert.equal(parseOptions(["--probe-every=100"]).probeEveryMs, 100_000);
  assert.throws(
    () => parseOptions(["--probe-every=soon"]),
    /--probe-every: "soon" is not a number of seconds/,
  );
});

Deno.test("--v8-flags reaches every relay measured; anything but V8 flags is refused by name", () => {
  assert.equal(parseOptions([]).v8Flags, undefined);
  assert.equal(
    parseOptions(["--v8-flags=--max-semi-space-size=1,--single-threaded-gc"]).v8Flags,
    "--max-semi-space-size=1,--single-threaded-gc",
  );
  assert.throws(
    () => parseOptions(["--v8-flags=--max-semi-space-size=1 main.ts"]),
    /--v8-flags: "--max-semi-space-size=1 main.ts" is not a V8 flag/,
  );
});

Deno.test("bench --tap runs Parley with a tap listening right after Parley, in the same run", () => {
  assert.deepEqual(parseOptions(["--smoke", "--tap"]).relays, [
    "parley",
    "parley-tap",
    "parley-live",
    "bare",
  ]);
  assert.deepEqual(parseOptions(["--tap", "--relay=bare,parley"]).relays, ["bare", "parley", "parley-tap"]);
  assert.deepEqual(
    parseOptions(["--smoke"]).relays,
    ["parley", "parley-live", "bare"],
    "no tap unless asked",
  );
});

Deno.test("bench --record runs Parley recording every call right after Parley, in the same run", () => {
  assert.deepEqual(parseOptions(["--record", "--relay=bare,parley"]).relays, [
    "bare",
    "parley",
    "parley-record",
  ]);
  assert.deepEqual(parseOptions(["--tap", "--record", "--relay=parley"]).relays, [
    "parley",
    "parley-tap",
    "parley-record",
  ]);
  assert.deepEqual(parseOptions(["--relay=parley"]).relays, ["parley"], "no recording unless asked");
});

Deno.test("every relay the bench measures runs under --expose-gc with its GC hook: RSS is read after a full GC in each", async () => {
  const launch = {
    dataDir: "bench/results/.data-test",
    profileDir: undefined,
    v8Flags: "--max-semi-space-size=1",
  };
  for (const kind of RELAY_KINDS) {
    const { args } = await relaySpec(kind, "ws://127.0.0.1:9/v1/realtime", launch);
    assert.ok(args.includes("--v8-flags=--expose-gc,--max-semi-space-size=1"), `${kind}: ${args.join(" ")}`);
    const entry = args.find((arg) => arg.startsWith("bench/") || arg === "main.ts");
    assert.ok(
      ["bench/_gc_main.ts", "bench/_tap_main.ts", "bench/bare_relay.ts"].includes(entry!),
      `${kind}: ${entry}`,
    );
  }
  // The floor answers SIGUSR2 with a full GC, as Parley does.
  const floor = await spawnServer(await relaySpec("bare", "ws://127.0.0.1:9/v1/realtime", launch));
  try {
    assert.ok(await collectGarbage(floor, 1) > 0, "the heap after the GC is reported");
  } finally {
    await floor.stop(2_000);
  }
});

Deno.test("with 50 and 200 calls the bench reports RSS per added call, and what recording adds", () => {
  // Only the figures the line reads: RSS after a full GC idle and with the calls active, MB (each count
  // runs in a process of its own, whose idle RSS differs).
  const run = (calls: number, parley: [number, number], recording: [number, number]) =>
    ({
      calls,
      relays: {
        parley: { rssIdleMb: parley[0], rssActiveMb: parley[1] },
        "parley-record": { rssIdleMb: recording[0], rssActiveMb: recording[1] },
      },
    }) as unknown as RunFigures;
  const lines = addedCallMemory([run(50, [73, 85], [75, 88]), run(200, [74, 86 + 37.5], [73, 86 + 39])]);
  assert.deepEqual(lines, [
    "RSS per added call, 50 → 200 calls (after a full GC): Parley 256.0 KB, Parley, recording 266.2 KB",
    "  recording adds 10.2 KB per call",
  ]);
  const same = run(200, [70, 100], [70, 100]);
  assert.deepEqual(addedCallMemory([same]), [], "one call count: nothing to compare");
  assert.deepEqual(addedCallMemory([run(5, [70, 71], [70, 71]), same]), [], "5 calls is no base");
});

Deno.test("--rounds=N measures each relay N times and keeps its round of median CPU; a bad count is named", () => {
  assert.equal(parseOptions([]).rounds, 1);
  assert.equal(parseOptions(["--rounds=3"]).rounds, 3);
  assert.throws(
    () => parseOptions(["--rounds=many"]),
    /--rounds: "many" is not a number of rounds from 1 to 9/,
  );
  assert.throws(() => parseOptions(["--rounds=0"]), /--rounds: "0"/);
  const round = (cpu: number, rss: number) =>
    ({ cpuMsPerCallMinute: cpu, rssPerCallMb: rss }) as RelayFigures;
  // The median round whole (its RSS with its CPU), whatever the order the rounds ran in.
  assert.deepEqual(medianRound([round(160, 0.31), round(150, 0.29), round(155, 0.30)]), round(155, 0.30));
  assert.deepEqual(medianRound([round(160, 0.31), round(150, 0.29)]), round(150, 0.29), "even: the lower");
  assert.deepEqual(medianRound([round(150, 0.29)]), round(150, 0.29));
});

Deno.test("--together measures a round's relays side by side, their windows opened at one moment", async (t) => {
  await t.step(
    "the flag: off by default, on with --smoke or a default run, refused elsewhere by name",
    () => {
      assert.equal(parseOptions([]).together, false);
      assert.equal(parseOptions(["--together", "--rounds=7"]).together, true);
      assert.equal(parseOptions(["--smoke", "--together"]).together, true);
      assert.throws(() => parseOptions(["--soak", "--together"]), /--together .* does not go with --soak/);
      assert.throws(() => parseOptions(["--profile", "--together"]), /does not go with --profile/);
    },
  );

  // How far a gate is: the order in which the relays' windows opened, read after every step settles.
  const opened: string[] = [];
  const seen = () => [...opened];
  const settle = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };

  await t.step("no window opens before every relay has arrived", async () => {
    const gate = new WindowGate(3);
    const parley = gate.arrive().then(() => opened.push("parley"));
    const bare = gate.arrive().then(() => opened.push("bare"));
    await settle();
    assert.deepEqual(seen(), [], "two of three arrived: both still wait");
    gate.arrive().then(() => opened.push("live"));
    await Promise.all([parley, bare]);
    await settle();
    assert.deepEqual(seen().toSorted(), ["bare", "live", "parley"]);
  });

  await t.step(
    "a relay that failed before its window leaves, and the others do not wait for it",
    async () => {
      opened.length = 0;
      const gate = new WindowGate(2);
      const parley = gate.arrive().then(() => opened.push("parley"));
      await settle();
      assert.deepEqual(opened, []);
      gate.leave();
      await parley;
      assert.deepEqual(opened, ["parley"]);
    },
  );
});
