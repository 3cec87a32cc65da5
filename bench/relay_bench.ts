/**
 * `deno task bench`: Parley's relay under load, next to a bare pass-through relay as the floor.
 *
 * For each call count N it starts Parley as a subprocess (`main.ts` with the `start` task's exact
 * permission flags) against an in-process fake Realtime server, then again against the shared
 * GPT-Live fake (`testing/fake_live.ts`, calls on `tester_live`), runs N simulated Twilio calls at
 * once (a 160-byte frame every 20 ms each way, marks echoed on a real-time playback clock, the
 * caller cutting in once per call), and then does the same with `bench/bare_relay.ts`. It prints,
 * per N, each figure for Parley, for the floor and their ratio, checks the targets, and writes
 * `bench/results/<name>.json` and `.md` with the machine and Deno version.
 *
 * ```sh
 * deno task bench                        # N = 1, 50, 200; 10 s window each → results/latest.*
 * deno task bench --calls=20,100 --duration=30
 * deno task bench --smoke                # CI: N = 5, a few seconds; fails only on lost frames or failed calls
 * deno task bench --soak                 # 50 calls × 10 min, an upstream drop every ~2 min per call:
 *                                        # 0 calls lost, reconnects < 2 s, RSS flat, sockets closed
 * deno task bench --flood                # 50 healthy calls, then the same beside 10 flooding sockets
 * deno task bench --profile              # 200 calls under --cpu-prof → results/profile.md
 * deno task bench --cluster=3            # 50 calls: the floor, Parley alone (SQLite), 3 instances on
 *                                        # Postgres behind a round-robin proxy, Parley alone again
 * ```
 *
 * After the load runs (default and `--smoke`), the "first word" scenario (`first_word.ts`): `start` →
 * the greeting's first frame at Twilio, pre-warm on and off, both engines (50 calls a row; 5 in
 * `--smoke`).
 *
 * Exit code: 1 when a frame was lost or a call failed (in any mode; and in `--soak` when a soak
 * verdict is not met: RSS grew more than 5 % after warm-up, an upstream socket stayed open, a call was
 * lost or a reconnect took 2 s or more), 0 otherwise; the last line says which. Latency, CPU and RSS
 * targets are printed, never fatal.
 * *
 * This file is the command line; the modes are `_mode_load.ts` (every mode's load runs),
 * `_mode_soak.ts`, `_mode_flood.ts`, `_mode_cluster.ts` (with `_cluster.ts`) and `first_word.ts`, one relay's run is `_relays.ts`, and the
 * tables and result files are `_report.ts`.
 *
 * @module
 */

import { clusterMarkdown, runCluster } from "./_mode_cluster.ts";
import { runFlood } from "./_mode_flood.ts";
import { runLoad } from "./_mode_load.ts";
import { runSoak, soakMarkdown, type SoakVerdict } from "./_mode_soak.ts";
import { type BenchOptions, parseOptions } from "./_options.ts";
import { machineInfo } from "./_proc.ts";
import { addedCallMemory, markdown, RESULTS, targetSummary } from "./_report.ts";
import { type FirstWordRow, firstWordTable, runFirstWord } from "./first_word.ts";

const HELP = `deno task bench [--calls=1,50,200] [--duration=SECONDS] [--warmup=SECONDS] [--ramp=SECONDS]
                 [--relay=LIST] [--out=NAME] [--tap] [--record] [--rounds=N] [--together]
                 [--smoke | --soak | --profile | --cluster=N]

  --calls     call counts, each measured on its own; with two of 50 or more (--calls=50,200) it also
              prints each relay's RSS per added call (growth from the smaller count to the larger)
  --smoke     5 calls for a few seconds (CI): exits 1 only if a frame is lost or a call fails
  --soak      50 calls × 10 minutes, Parley only, an upstream drop every ~2 min per call
              (--drop-every=SECONDS): 0 calls lost, reconnects under 2 s, RSS flat, sockets closed
  --profile   200 calls under deno --cpu-prof; summary in bench/results/profile.md
  --cluster=N N Parley instances (2-9) on a throwaway Postgres behind a round-robin proxy, beside the
              floor and one Parley on SQLite (run before and after the cluster: the run's noise);
              50 calls by default. Prints CPU per call-minute (instances summed), relay p50/p99,
              webhook p50/p99, and whether the relay p99 stays within noise of a single instance.
              Skipped, saying so, when Postgres is not installed
  --tap       also run Parley with a no-op frame tap listening to every call (parley-tap), right
              after Parley: the tap's cost in the same run
  --record    also run Parley recording every call (parley-record: persona tester with record: true,
              WAVs to its DATA_DIR), right after Parley: recording's cost in the same run
  --relay     comma-separated: parley (Realtime), parley-live (GPT-Live), bare (default: all three), and the floor's diagnostic variants
              bare-marks (+ Parley's mark traffic), bare-native (Deno's native upstream client),
              bare-raw (a client on Deno.connect with Nagle off)
  --probe-every=SECONDS  a probe call (webhook, start, greeting, hang-up) starts this often during
              the window (default 0.25; 1 in the soak): a large value leaves steady calls alone
  --v8-flags=LIST  V8 flags for Parley and the floor alike (e.g. --max-semi-space-size=1)
  --rounds=N  measure every relay N times (1-9), in turn, and keep each relay's round of median CPU;
              the table shows every round and Parley ÷ bare round by round (default 1)
  --together  measure the relays of each round side by side rather than in turn, each with its own
              load generator and fake OpenAI, their windows opened at one moment: on a machine whose
              speed drifts, the drift weighs on each alike (latency then includes the others' load)`;

/** Runs the bench; resolves with the process exit code. */
export async function main(args: string[]): Promise<number> {
  if (args.includes("--help")) {
    console.log(HELP);
    return 0;
  }
  let options: BenchOptions;
  try {
    options = parseOptions(args);
  } catch (error) {
    console.error(`❌ ${(error as Error).message}`);
    return 2;
  }
  const machine = await machineInfo();
  console.log(
    `Parley relay bench (${options.mode}): calls ${
      options.calls.join(", ")
    }; ${options.durationS} s window ` +
      `after ${options.warmupS} s warm-up; relays: ${
        options.mode === "cluster"
          ? `bare, Parley alone (SQLite), Parley ×${options.clusterSize} (Postgres), Parley alone again`
          : options.relays.join(", ")
      }`,
  );
  console.log(
    `${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Deno ${machine.deno}; ` +
      `load average ${machine.loadAverage.join(" ")}`,
  );
  if ((machine.loadAverage[0] ?? 0) > 0.5) {
    console.log("⚠️  Other work is running on this machine: latency and CPU figures will be noisier.");
  }

  if (options.mode === "cluster") return await cluster(options, machine);

  const { runs, failed: loadFailed } = await runLoad(options);
  // What failed, said at the end: the exit status alone does not tell a lost frame from a soak verdict.
  const failures: string[] = loadFailed ? ["frames were lost or a call failed"] : [];

  const floodLines: string[] = [];
  if (options.mode === "flood") {
    const flood = await runFlood(runs, options);
    floodLines.push(...flood.lines);
    if (flood.failed) failures.push("beside the flood, frames were lost or a call failed");
  }

  let soak: SoakVerdict | undefined;
  if (options.mode === "soak") {
    const soaked = runSoak(runs);
    soak = soaked.soak;
    if (soaked.failed) failures.push("a soak verdict was not met (RSS flat, sockets closed, reconnects)");
  }

  const memoryLines = addedCallMemory(runs);
  if (memoryLines.length > 0) console.log(["", ...memoryLines].join("\n"));

  const largest = [...runs].reverse().find((run) => run.targets !== undefined);
  if (largest?.targets !== undefined) {
    console.log("");
    console.log(targetSummary(largest.targets, largest.calls, options.mode));
  }

  await Deno.mkdir(RESULTS, { recursive: true });
  // The greeting's first frame, pre-warm on and off, both engines (a short form in --smoke).
  let firstWord: FirstWordRow[] | undefined;
  if (options.mode === "default" || options.mode === "smoke") {
    const smoke = options.mode === "smoke";
    firstWord = await runFirstWord({ calls: smoke ? 5 : 50, gaps: smoke ? [400] : [400, 700], dir: RESULTS });
    console.log("");
    for (const line of firstWordTable(firstWord)) console.log(line);
  }
  const json = {
    machine,
    options,
    runs,
    ...(soak === undefined ? {} : { soak }),
    ...(firstWord === undefined ? {} : { firstWord }),
  };
  await Deno.writeTextFile(`${RESULTS}${options.out}.json`, JSON.stringify(json, null, 2) + "\n");
  const firstWordMd = firstWord === undefined
    ? ""
    : `\n\`\`\`\n${firstWordTable(firstWord).join("\n")}\n\`\`\`\n`;
  await Deno.writeTextFile(
    `${RESULTS}${options.out}.md`,
    markdown(runs, machine, options, [...memoryLines, ...(soak === undefined ? [] : soakMarkdown(soak))]) +
      firstWordMd +
      (floodLines.length > 0 ? `\n${floodLines.join("\n")}\n` : ""),
  );
  console.log(`\nWrote bench/results/${options.out}.json and bench/results/${options.out}.md`);
  if (failures.length > 0) console.log(`❌ ${capitalised(failures.join("; "))} (see above)`);
  return failures.length > 0 ? 1 : 0;
}

/** `text` with its first letter in capitals. */
function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** `--cluster=N`: its runs, then bench/results/cluster.json and .md. */
async function cluster(
  options: BenchOptions,
  machine: Awaited<ReturnType<typeof machineInfo>>,
): Promise<number> {
  const { runs, failed, skipped } = await runCluster(options);
  if (skipped !== undefined) return 0;
  await Deno.mkdir(RESULTS, { recursive: true });
  await Deno.writeTextFile(
    `${RESULTS}${options.out}.json`,
    JSON.stringify({ machine, options, cluster: runs }, null, 2) + "\n",
  );
  const header = markdown([], machine, options, []);
  await Deno.writeTextFile(
    `${RESULTS}${options.out}.md`,
    `${header}\n${clusterMarkdown(runs, options).join("\n")}`,
  );
  console.log(`\nWrote bench/results/${options.out}.json and bench/results/${options.out}.md`);
  if (failed) console.log("❌ Frames were lost or a call failed (see above)");
  return failed ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
