/**
 * `deno task bench`: Parley's relay under load, next to a bare pass-through relay as the floor.
 *
 * For each call count N it starts Parley as a subprocess (`main.ts` with the `start` task's exact
 * permission flags) against an in-process fake Realtime server, then again against the shared
 * GPT-Live fake (`tests/fakes/fake_live.ts`, calls on `tester_live`), runs N simulated Twilio calls at
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
 * ```
 *
 * After the load runs (default and `--smoke`), the "first word" scenario (`first_word.ts`): `start` →
 * the greeting's first frame at Twilio, pre-warm on and off, both engines (50 calls a row; 5 in
 * `--smoke`).
 *
 * Exit code: 1 when a frame was lost or a call failed (in any mode; and in `--soak` when RSS grew
 * more than 5 % after warm-up), 0 otherwise. Latency, CPU and RSS targets are printed, never fatal.
 *
 * @module
 */

import { MEDIA_STREAM_PATH, VOICE_WEBHOOK_PATH } from "../src/paths.ts";
import { Flood } from "./_flood.ts";
import { type LoadPlan, type LoadResult, LoadRun, sleep } from "./_load.ts";
import {
  type MachineInfo,
  machineInfo,
  type ProcSnapshot,
  readProc,
  type ServerProcess,
  spawnServer,
} from "./_proc.ts";
import { type CpuProfile, profileMarkdown, type ProfileSummary, summariseProfile } from "./_profile.ts";
import type { FrameCounts, Summary } from "./_frames.ts";
import { type FirstWordRow, firstWordTable, runFirstWord } from "./first_word.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const RESULTS = `${ROOT}bench/results/`;
const PUBLIC_BASE_URL = "https://parley.test";
const AUTH_TOKEN = "bench-auth-token-0123456789abcdef";

/**
 * Which relay a figure belongs to: Parley, the floor, or one of the floor's diagnostic variants
 * (`bare-marks`: plus Parley's mark traffic; `bare-native`: Deno's native upstream client;
 * `bare-raw`: a client on Deno's TCP ops with Nagle off, see `bare_relay.ts`).
 */
export type RelayKind = "parley" | "parley-live" | "bare" | "bare-marks" | "bare-native" | "bare-raw";

const RELAY_KINDS: readonly RelayKind[] = [
  "parley",
  "parley-live",
  "bare",
  "bare-marks",
  "bare-native",
  "bare-raw",
];

/** Column titles of the relays. */
export const RELAY_TITLES: Record<RelayKind, string> = {
  parley: "Parley",
  "parley-live": "Parley, GPT-Live",
  bare: "bare relay",
  "bare-marks": "bare + marks",
  "bare-native": "bare, native client",
  "bare-raw": "bare, raw client",
};

/** What the command line asked for. */
export interface BenchOptions {
  mode: "default" | "smoke" | "soak" | "flood" | "profile";
  calls: number[];
  durationS: number;
  warmupS: number;
  rampS: number;
  relays: RelayKind[];
  /** Base name of the result files in bench/results/. */
  out: string;
  /** Soak: drop each upstream session about this long after it opened, ms. */
  dropEveryMs: number | undefined;
  /** Soak: cut in on every call this often, ms. */
  interruptEveryMs: number | undefined;
  /** Soak: RSS sample interval, ms. */
  sampleEveryMs: number | undefined;
  /** A probe call (start → greeting → hang-up) starts this often during the window, ms. */
  probeEveryMs: number;
}

/** Everything measured for one relay at one N. */
export interface RelayFigures {
  /** Flooding sockets beside the healthy calls (`--flood`), and the frames they sent. */
  flood?: { sockets: number; framesSent: number };
  /** Upstream drops on purpose (soak): reconnect times and caller frames sent in the gaps. */
  reconnects?: { drops: number; pending: number; ms: Summary; gapFrames: number };
  relay: RelayKind;
  calls: number;
  windowMs: number;
  upMs: Summary;
  downMs: Summary;
  /** The priming call's start → first frame, on the cold relay. */
  coldStartToGreetingMs: number;
  /** Probe calls under the steady load of N calls. */
  startToGreetingMs: Summary;
  startToResponseCreateMs: Summary;
  /** The N calls themselves, started within the ramp. */
  rampStartToGreetingMs: Summary;
  speechToClearMs: Summary;
  cpuMsPerCallMinute: number;
  /** Share of one core used by the relay process during the window, %. */
  cpuPercent: number;
  rssIdleMb: number;
  rssActiveMb: number;
  rssPerCallMb: number;
  framesLost: { up: number; down: number };
  frames: { up: FrameCounts; down: FrameCounts };
  failures: string[];
  load: Pick<LoadResult, "interruptions" | "marksEchoed" | "upstream" | "generator">;
  rssSamples: MemorySample[];
  /** Soak: how the relay noticed each drop, from its log. */
  dropsNoticed?: { byClose: number; byAbnormalClose: number; byStallWatch: number };
  stderr: string[];
  profile?: ProfileSummary;
}

/** Target verdicts for Parley at one N (undefined: not applicable at this N). */
export interface TargetChecks {
  latencyP99: boolean | undefined;
  cpuRatio: boolean | undefined;
  startToGreeting: boolean | undefined;
  rssPerCall: boolean | undefined;
  noFramesLost: boolean | undefined;
}

/** One N: every relay measured, Parley ÷ bare, targets. */
export interface RunFigures {
  calls: number;
  relays: Partial<Record<RelayKind, RelayFigures>>;
  /** Parley ÷ bare for each comparable figure. */
  ratios?: Record<string, number>;
  targets?: TargetChecks;
}

/** Parses the bench's flags. */
export function parseOptions(args: string[]): BenchOptions {
  const value = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const has = (name: string) => args.includes(`--${name}`);
  const known = ["calls", "duration", "warmup", "ramp", "relay", "out", "drop-every"];
  for (const arg of args) {
    const name = arg.replace(/^--/, "").replace(/=.*$/, "");
    if (!known.includes(name) && !["smoke", "soak", "flood", "profile", "help"].includes(name)) {
      throw new Error(`Unknown flag "${arg}": see deno task bench --help`);
    }
  }
  const mode = has("smoke")
    ? "smoke"
    : has("soak")
    ? "soak"
    : has("flood")
    ? "flood"
    : has("profile")
    ? "profile"
    : "default";
  const defaults = {
    default: {
      calls: [1, 50, 200],
      durationS: 10,
      warmupS: 3,
      rampS: 1,
      relays: ["parley", "parley-live", "bare"],
    },
    smoke: { calls: [5], durationS: 3, warmupS: 1, rampS: 0.5, relays: ["parley", "parley-live", "bare"] },
    soak: { calls: [50], durationS: 600, warmupS: 30, rampS: 1, relays: ["parley"] },
    flood: { calls: [50], durationS: 30, warmupS: 3, rampS: 1, relays: ["parley"] },
    profile: { calls: [200], durationS: 10, warmupS: 3, rampS: 1, relays: ["parley", "bare"] },
  }[mode];
  const number = (name: string, fallback: number) => {
    const text = value(name);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: "${text}" is not a number of seconds`);
    return n;
  };
  const callsText = value("calls");
  const calls = callsText === undefined ? defaults.calls : callsText.split(",").map((c) => {
    const n = Number(c);
    if (!Number.isInteger(n) || n < 1 || n > 65534) throw new Error(`--calls: "${c}" is not a call count`);
    return n;
  });
  const relayText = value("relay");
  const relays = relayText === undefined
    ? defaults.relays as RelayKind[]
    : relayText.split(",").flatMap((r) => {
      if (r === "both") return ["parley", "parley-live", "bare"] as RelayKind[];
      if (!(RELAY_KINDS as readonly string[]).includes(r)) {
        throw new Error(`--relay: "${r}" is not one of both, ${RELAY_KINDS.join(", ")}`);
      }
      return [r as RelayKind];
    });
  return {
    mode,
    calls,
    durationS: number("duration", defaults.durationS),
    warmupS: number("warmup", defaults.warmupS),
    rampS: number("ramp", defaults.rampS),
    relays,
    out: value("out") ??
      { default: "latest", smoke: "smoke", soak: "soak", flood: "flood", profile: "profile" }[mode],
    dropEveryMs: mode === "soak" ? number("drop-every", 120) * 1000 : undefined,
    interruptEveryMs: mode === "soak" ? 20_000 : undefined,
    sampleEveryMs: mode === "soak" ? 10_000 : mode === "flood" ? 2_000 : undefined,
    probeEveryMs: mode === "soak" ? 1_000 : 250,
  };
}

/**
 * The flags between `deno run` and `main.ts` in a deno.json task (as the smoke test reads them),
 * without `--env-file`: the bench gives Parley its whole environment, the user's `.env` plays no part.
 */
export async function taskFlags(task: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const words = String(config.tasks[task]).split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") throw new Error(`Task "${task}" is not a deno run command`);
  return words.slice(2, words.indexOf("main.ts"))
    .filter((flag) => flag !== "--watch" && !flag.startsWith("--env-file"));
}

async function startRelay(kind: RelayKind, upstreamUrl: string, options: {
  dataDir: string;
  profileDir: string | undefined;
  /** Run Parley under `bench/_gc_main.ts`: SIGUSR2 → a full GC and a memory line (the soak). */
  gcHook?: boolean;
}): Promise<ServerProcess> {
  const profile = options.profileDir === undefined
    ? []
    : ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`];
  if (kind === "parley" || kind === "parley-live") {
    const entry = options.gcHook ? ["--v8-flags=--expose-gc", "bench/_gc_main.ts"] : ["main.ts"];
    return await spawnServer({
      name: RELAY_TITLES[kind],
      args: ["run", ...await taskFlags("start"), ...profile, ...entry],
      cwd: ROOT,
      env: {
        PORT: "0",
        PUBLIC_BASE_URL,
        OPENAI_API_KEY: "sk-bench-0123456789abcdef",
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        DATA_DIR: options.dataDir,
        // The tests' personas, not the user's personas/ (which they edit): the figures stay comparable.
        // GPT-Live calls ask for tester_live; as the default persona, its socket opens when Twilio connects.
        ...(kind === "parley"
          ? {
            OPENAI_REALTIME_URL: upstreamUrl,
            PERSONAS_DIR: `${ROOT}tests/testdata/personas`,
            DEFAULT_PERSONA: "tester",
            INBOUND_PERSONA: "quiet",
          }
          : {
            OPENAI_LIVE_URL: upstreamUrl,
            PERSONAS_DIR: `${ROOT}tests/testdata/live_personas`,
            DEFAULT_PERSONA: "tester_live",
            INBOUND_PERSONA: "tester_live",
          }),
        // The bench runs more calls at once than the default cap of 100.
        MAX_CONCURRENT_CALLS: "100000",
      },
      listening: /Parley listening on http:\/\/localhost:(\d+)/,
    });
  }
  return await spawnServer({
    name: RELAY_TITLES[kind],
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE",
      ...profile,
      "bench/bare_relay.ts",
      `--upstream=${upstreamUrl}`,
      ...({
        parley: [],
        "parley-live": [],
        bare: [],
        "bare-marks": ["--marks"],
        "bare-native": ["--client=native"],
        "bare-raw": ["--client=raw"],
      }[kind]),
    ],
    cwd: ROOT,
    env: {},
    listening: /Bare relay listening on http:\/\/localhost:(\d+)/,
  });
}

/** Runs one relay at one N and gathers its figures. */
async function measure(
  kind: RelayKind,
  calls: number,
  options: BenchOptions,
  floodSockets = 0,
): Promise<RelayFigures> {
  const plan: LoadPlan = {
    calls,
    rampMs: options.rampS * 1000,
    warmupMs: options.warmupS * 1000,
    durationMs: options.durationS * 1000,
    probeEveryMs: options.probeEveryMs,
    ...(options.interruptEveryMs === undefined ? {} : { interruptEveryMs: options.interruptEveryMs }),
    ...(options.dropEveryMs === undefined ? {} : { dropEveryMs: options.dropEveryMs }),
    ...(options.sampleEveryMs === undefined ? {} : { sampleEveryMs: options.sampleEveryMs }),
    engine: kind === "parley-live" ? "live" : "realtime",
  };
  const dataDir = `bench/results/.data-${kind}-${calls}-${Deno.pid}`;
  await Deno.mkdir(`${ROOT}${dataDir}`, { recursive: true });
  const profileDir = options.mode === "profile" ? `bench/results/profile/${kind}` : undefined;
  if (profileDir !== undefined) {
    await Deno.remove(`${ROOT}${profileDir}`, { recursive: true }).catch(() => {});
    await Deno.mkdir(`${ROOT}${profileDir}`, { recursive: true });
  }
  const load = new LoadRun(plan);
  const label = `${RELAY_TITLES[kind]}, ${calls} call${calls === 1 ? "" : "s"}` +
    (floodSockets > 0 ? ` + ${floodSockets} flooding` : "");
  let flood: Flood | undefined;
  let server: ServerProcess | undefined;
  const extraFailures: string[] = [];
  try {
    const gcHook = options.mode === "soak" && (kind === "parley" || kind === "parley-live");
    server = await startRelay(kind, load.fake.url, { dataDir, profileDir, gcHook });
    await sleep(500);
    const idle = await readProc(server.pid);
    let before: ProcSnapshot | undefined;
    let after: ProcSnapshot | undefined;
    const rssSamples: MemorySample[] = [];
    let collections = 0;
    const pid = server.pid;
    const result = await load.run({
      hostname: "127.0.0.1",
      port: server.port,
      path: MEDIA_STREAM_PATH,
      authToken: AUTH_TOKEN,
      publicBaseUrl: PUBLIC_BASE_URL,
      ...(kind === "parley" || kind === "parley-live" ? { webhookPath: VOICE_WEBHOOK_PATH } : {}),
    }, {
      windowStart: async () => {
        if (floodSockets > 0) {
          const target = { port: server!.port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL };
          flood = await Flood.start(target, load.fake, floodSockets);
        }
        before = await readProc(pid);
      },
      windowEnd: async () => {
        after = await readProc(pid);
        await flood?.stop();
      },
      sample: async (ms) => {
        const heapMb = gcHook ? await collectGarbage(server!, ++collections) : undefined;
        const snapshot = await readProc(pid);
        const atS = Math.round(ms / 1000);
        rssSamples.push({ atS, rssMb: snapshot.rssKb / 1024, ...(heapMb === undefined ? {} : { heapMb }) });
        console.log(
          `   ${label}: ${atS} s, RSS ${(snapshot.rssKb / 1024).toFixed(1)} MB` +
            (heapMb === undefined ? "" : `, heap ${heapMb.toFixed(1)} MB (after a full GC)`),
        );
      },
      progress: (line) => console.log(`   ${label}: ${line}`),
    });
    if (kind === "parley" || kind === "parley-live") {
      const active = await activeCallsAfterHangUp(server.port);
      if (active !== 0) {
        extraFailures.push(`Parley still reports ${active} active call(s) after every hang-up`);
      }
    }
    const code = await server.stop();
    if (code !== 0) extraFailures.push(`${server.name} exited with code ${code} on SIGTERM`);
    const stderr = server.stderr.lines.filter((line) => line.trim() !== "");
    if (stderr.some((line) => /NotCapable|Requires .* access/.test(line))) {
      extraFailures.push(
        `${server.name} lacked a permission: ${stderr.find((l) => /NotCapable|Requires/.test(l))}`,
      );
    }
    const windowCpuMs = after!.cpuMs - before!.cpuMs;
    const windowMs = after!.at - before!.at;
    const figures: RelayFigures = {
      relay: kind,
      calls,
      windowMs: Math.round(result.windowMs),
      upMs: result.up.latencyMs,
      downMs: result.down.latencyMs,
      coldStartToGreetingMs: result.coldStartToGreetingMs,
      startToGreetingMs: result.startToGreetingMs,
      startToResponseCreateMs: result.startToResponseCreateMs,
      rampStartToGreetingMs: result.rampStartToGreetingMs,
      speechToClearMs: result.speechToClearMs,
      cpuMsPerCallMinute: windowCpuMs / (calls * (windowMs / 60_000)),
      cpuPercent: (100 * windowCpuMs) / windowMs,
      rssIdleMb: idle.rssKb / 1024,
      rssActiveMb: after!.rssKb / 1024,
      rssPerCallMb: (after!.rssKb - idle.rssKb) / 1024 / calls,
      // Caller frames spoken in a reconnect gap are dropped on purpose: not lost.
      framesLost: {
        up: Math.max(0, result.up.frames.lost - (result.reconnects?.gapFrames ?? 0)),
        down: result.down.frames.lost,
      },
      ...(result.reconnects === undefined ? {} : { reconnects: result.reconnects }),
      frames: { up: result.up.frames, down: result.down.frames },
      failures: [...result.failures, ...extraFailures],
      load: {
        interruptions: result.interruptions,
        marksEchoed: result.marksEchoed,
        upstream: result.upstream,
        generator: result.generator,
      },
      rssSamples,
      ...(result.reconnects === undefined ? {} : { dropsNoticed: dropsNoticed(server.stderr.lines) }),
      ...(flood === undefined ? {} : { flood: { sockets: floodSockets, framesSent: flood.framesSent } }),
      stderr: stderr.slice(0, 10),
    };
    if (profileDir !== undefined) {
      const profile = await readProfile(`${ROOT}${profileDir}`);
      if (profile !== undefined) figures.profile = profile;
    }
    return figures;
  } finally {
    await server?.stop(2_000);
    await Deno.remove(`${ROOT}${dataDir}`, { recursive: true }).catch(() => {});
  }
}

async function activeCallsAfterHangUp(port: number): Promise<number> {
  const deadline = performance.now() + 5_000;
  let active = -1;
  while (performance.now() < deadline) {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    active = (await response.json()).activeCalls;
    if (active === 0) return 0;
    await sleep(50);
  }
  return active;
}

async function readProfile(dir: string): Promise<ProfileSummary | undefined> {
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".cpuprofile")) continue;
    const profile = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)) as CpuProfile;
    return summariseProfile(profile, { root: ROOT, top: 30 });
  }
  return undefined;
}

function ratio(a: number, b: number): number {
  return b === 0 ? (a === 0 ? 1 : Infinity) : a / b;
}

function compare(parley: RelayFigures, bare: RelayFigures): Record<string, number> {
  return {
    upP50: ratio(parley.upMs.p50, bare.upMs.p50),
    upP99: ratio(parley.upMs.p99, bare.upMs.p99),
    upMax: ratio(parley.upMs.max, bare.upMs.max),
    downP50: ratio(parley.downMs.p50, bare.downMs.p50),
    downP99: ratio(parley.downMs.p99, bare.downMs.p99),
    downMax: ratio(parley.downMs.max, bare.downMs.max),
    startToGreetingP50: ratio(parley.startToGreetingMs.p50, bare.startToGreetingMs.p50),
    startToGreetingP99: ratio(parley.startToGreetingMs.p99, bare.startToGreetingMs.p99),
    rampStartToGreetingP50: ratio(parley.rampStartToGreetingMs.p50, bare.rampStartToGreetingMs.p50),
    rampStartToGreetingP99: ratio(parley.rampStartToGreetingMs.p99, bare.rampStartToGreetingMs.p99),
    speechToClearP50: ratio(parley.speechToClearMs.p50, bare.speechToClearMs.p50),
    speechToClearP99: ratio(parley.speechToClearMs.p99, bare.speechToClearMs.p99),
    cpuPerCall: ratio(parley.cpuMsPerCallMinute, bare.cpuMsPerCallMinute),
    rssPerCall: ratio(parley.rssPerCallMb, bare.rssPerCallMb),
  };
}

function checkTargets(parley: RelayFigures, ratios: Record<string, number> | undefined): TargetChecks {
  return {
    latencyP99: parley.upMs.p99 <= 1 && parley.downMs.p99 <= 1,
    cpuRatio: ratios === undefined ? undefined : ratios.cpuPerCall! <= 1.3,
    startToGreeting: parley.startToGreetingMs.p99 <= 10,
    // One call's RSS drowns in the process's own growth; per-call RSS means something from ~50 calls.
    rssPerCall: parley.calls < 50 ? undefined : parley.rssPerCallMb <= 0.5,
    noFramesLost: parley.framesLost.up === 0 && parley.framesLost.down === 0,
  };
}

// ── Output ──────────────────────────────────────────────────────────────────────────────────────

const f2 = (n: number) => Number.isFinite(n) ? n.toFixed(2) : "∞";
const f1 = (n: number) => Number.isFinite(n) ? n.toFixed(1) : "∞";
const tri = (s: Summary) => `${f2(s.p50)} / ${f2(s.p99)} / ${f2(s.max)}`;
const duo = (s: Summary) => `${f2(s.p50)} / ${f2(s.p99)}`;
const mark = (ok: boolean | undefined) => ok === undefined ? "n/a" : ok ? "✓ met" : "✗ not met";

/**
 * The closing line on the targets. A smoke run (a few calls for a few seconds, on a CI machine
 * doing other work) judges only lost frames: printing "✗ not met" for latency while passing would
 * read as a failure.
 */
export function targetSummary(t: TargetChecks, calls: number, mode: BenchOptions["mode"]): string {
  if (mode === "smoke") {
    return `smoke: latency targets not judged (run deno task bench for them) · 0 frames lost ${
      mark(t.noFramesLost)
    }`;
  }
  return `Targets at ${calls} calls: latency p99 ≤ 1 ms ${mark(t.latencyP99)} · CPU ≤ 1.3× bare ${
    mark(t.cpuRatio)
  } · start→greeting ≤ 10 ms ${mark(t.startToGreeting)} · RSS ≤ 0.5 MB/call ${mark(t.rssPerCall)} · ` +
    `0 frames lost ${mark(t.noFramesLost)}`;
}

/** One line of a results table: a figure for each relay, Parley ÷ bare, and the target check. */
interface Row {
  label: string;
  values: Partial<Record<RelayKind, string>>;
  ratio: string;
  target: string;
}

function rows(run: RunFigures, mode: BenchOptions["mode"]): Row[] {
  const p = run.relays.parley;
  const r = run.ratios;
  const t = run.targets;
  const each = (show: (x: RelayFigures) => string) => {
    const values: Partial<Record<RelayKind, string>> = {};
    for (const [kind, figures] of Object.entries(run.relays) as [RelayKind, RelayFigures][]) {
      values[kind] = show(figures);
    }
    return values;
  };
  const ratioCell = (...keys: string[]) => r === undefined ? "—" : keys.map((k) => f2(r[k]!)).join(" / ");
  const check = (text: string, ok: boolean | undefined) => t === undefined ? "" : `${text} ${mark(ok)}`;
  // A smoke run judges lost frames only (see targetSummary).
  const judged = (text: string, ok: boolean | undefined) =>
    mode === "smoke" ? `${text} not judged (smoke)` : check(text, ok);
  return [
    {
      label: "caller→OpenAI ms p50/p99/max",
      values: each((x) => tri(x.upMs)),
      ratio: ratioCell("upP50", "upP99", "upMax"),
      target: judged("p99 ≤ 1 ms", p !== undefined && p.upMs.p99 <= 1),
    },
    {
      label: "OpenAI→caller ms p50/p99/max",
      values: each((x) => tri(x.downMs)),
      ratio: ratioCell("downP50", "downP99", "downMax"),
      target: judged("p99 ≤ 1 ms", p !== undefined && p.downMs.p99 <= 1),
    },
    {
      label: "start→first greeting ms p50/p99 (probe calls)",
      values: each((x) => duo(x.startToGreetingMs)),
      ratio: ratioCell("startToGreetingP50", "startToGreetingP99"),
      target: judged("p99 ≤ 10 ms (fake delay 0)", t?.startToGreeting),
    },
    {
      label: "  of which start→response.create",
      values: each((x) => duo(x.startToResponseCreateMs)),
      ratio: "",
      target: "",
    },
    {
      label: "  the N calls, all started in the ramp",
      values: each((x) => duo(x.rampStartToGreetingMs)),
      ratio: ratioCell("rampStartToGreetingP50", "rampStartToGreetingP99"),
      target: "",
    },
    {
      label: "  first call, cold relay (ms)",
      values: each((x) => f2(x.coldStartToGreetingMs)),
      ratio: "",
      target: "",
    },
    {
      label: "speech_started→clear ms p50/p99",
      // GPT-Live has no speech_started: the model owns barge-in (its calls are cut in on all the same).
      values: each((x) => x.speechToClearMs.count === 0 ? "—" : duo(x.speechToClearMs)),
      ratio: ratioCell("speechToClearP50", "speechToClearP99"),
      target: "",
    },
    {
      label: "CPU ms per call-minute",
      values: each((x) => `${f1(x.cpuMsPerCallMinute)} (${f1(x.cpuPercent)} % core)`),
      ratio: ratioCell("cpuPerCall"),
      target: judged("≤ 1.3× bare", t?.cpuRatio),
    },
    {
      label: "  GPT-Live CPU ÷ bare",
      values: {},
      ratio: r?.cpuPerCallLive === undefined ? "" : f2(r.cpuPerCallLive),
      target: "",
    },
    {
      label: "RSS MB per active call",
      values: each((x) => `${f2(x.rssPerCallMb)} (${f1(x.rssIdleMb)}→${f1(x.rssActiveMb)})`),
      ratio: ratioCell("rssPerCall"),
      target: judged("≤ 0.5 MB", t?.rssPerCall),
    },
    {
      label: "frames lost up / down",
      values: each((x) => `${x.framesLost.up} / ${x.framesLost.down}`),
      ratio: "",
      target: check("0", t?.noFramesLost),
    },
    {
      label: "failed calls / problems",
      values: each((x) => String(x.failures.length)),
      ratio: "",
      target: "",
    },
    {
      label: "load generator CPU % core",
      values: each((x) => f1(x.load.generator.cpuPercent)),
      ratio: "",
      target: "",
    },
  ];
}

/** The table's columns: label, each relay measured, × bare, target. */
function table(run: RunFigures, options: BenchOptions): { titles: string[]; cells: string[][] } {
  const kinds = RELAY_KINDS.filter((kind) => run.relays[kind] !== undefined);
  const titles = [
    `${run.calls} call${run.calls === 1 ? "" : "s"}, ${options.durationS} s`,
    ...kinds.map((kind) => RELAY_TITLES[kind]),
    "Parley ÷ bare",
    "target (Parley)",
  ];
  const cells = rows(run, options.mode).map((row) => [
    row.label,
    ...kinds.map((kind) => row.values[kind] ?? "—"),
    row.ratio,
    row.target,
  ]);
  return { titles, cells };
}

function printRun(run: RunFigures, options: BenchOptions): void {
  const { titles, cells } = table(run, options);
  const widths = titles.map((title, i) => Math.max(title.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  console.log("");
  console.log(line(titles));
  console.log(widths.map((w) => "─".repeat(w)).join("  "));
  for (const row of cells) console.log(line(row));
  for (const figures of Object.values(run.relays)) {
    for (const problem of figures.failures.slice(0, 5)) console.log(`  ✗ ${figures.relay}: ${problem}`);
    if (figures.failures.length > 5) {
      console.log(`  ✗ ${figures.relay}: … ${figures.failures.length - 5} more`);
    }
  }
}

function markdown(
  runs: RunFigures[],
  machine: MachineInfo,
  options: BenchOptions,
  soak: SoakVerdict | undefined,
): string {
  const lines = [
    `# Parley relay bench (${options.mode})`,
    "",
    `${machine.date} · ${machine.cpus} × ${machine.cpuModel} · ${machine.memoryGiB} GiB · Linux ${machine.kernel} · ` +
    `Deno ${machine.deno} (V8 ${machine.v8}) · load average before: ${machine.loadAverage.join(", ")}`,
    "",
    `\`deno task bench${Deno.args.length > 0 ? " " : ""}${
      Deno.args.join(" ")
    }\`: ${options.durationS} s window ` +
    `after ${options.warmupS} s warm-up. Latency is the relay's added time per 160-byte frame over loopback; ` +
    "the load generator runs on the same machine (its CPU is shown).",
    "",
  ];
  for (const run of runs) {
    const { titles, cells } = table(run, options);
    lines.push(`| ${titles.join(" | ")} |`, `|${" --- |".repeat(titles.length)}`);
    for (const row of cells) lines.push(`| ${row.join(" | ")} |`);
    lines.push("");
  }
  if (soak !== undefined) lines.push(...soakMarkdown(soak), "");
  for (const run of runs) {
    for (const figures of Object.values(run.relays)) {
      if (figures.profile === undefined) continue;
      lines.push(
        profileMarkdown(figures.profile, `CPU profile: ${RELAY_TITLES[figures.relay]}, ${run.calls} calls`),
      );
    }
  }
  return lines.join("\n");
}

/** How the relay noticed each lost session, from its `Upstream lost for …` log lines. */
function dropsNoticed(lines: string[]): NonNullable<RelayFigures["dropsNoticed"]> {
  const lost = lines.filter((line) => line.includes("Upstream lost for "));
  return {
    byClose: lost.filter((l) => /OpenAI closed the connection \((?!1006)/.test(l)).length,
    byAbnormalClose: lost.filter((l) => l.includes("OpenAI closed the connection (1006")).length,
    byStallWatch: lost.filter((l) => l.includes("OpenAI owed an answer and sent nothing")).length,
  };
}

/** One memory sample of the relay; in the soak, taken right after a full GC. */
export interface MemorySample {
  atS: number;
  rssMb: number;
  /** V8 heap in use after a full GC, MB (soak only). */
  heapMb?: number;
}

/** Asks the relay (under `_gc_main.ts`) for full GC number `n`; resolves with the heap after it, MB. */
async function collectGarbage(server: ServerProcess, n: number): Promise<number> {
  const line = server.stdout.waitFor(
    new RegExp(`^Bench GC #${n}: heapUsed=(\\d+) rss=\\d+ collected=(\\w+)`),
  );
  server.signal("SIGUSR2");
  const match = /heapUsed=(\d+) rss=\d+ collected=(\w+)/.exec(await line)!;
  if (match[2] !== "true") {
    throw new Error("The relay ran without --expose-gc: cannot collect before sampling");
  }
  return Number(match[1]) / 1024 / 1024;
}

/** The soak's verdicts. */
export interface SoakVerdict {
  /** Highest RSS in the first half of the window (after warm-up), MB. */
  firstHalfPeakMb: number;
  /** Highest RSS in the second half, MB. */
  secondHalfPeakMb: number;
  /** Second-half peak over first-half peak, %. */
  growthPercent: number;
  rssFlat: boolean;
  /** Same comparison on the V8 heap after a full GC (what the relay retains), when sampled. */
  heap?: { firstHalfPeakMb: number; secondHalfPeakMb: number; growthPercent: number };
  /** How the relay noticed the drops, from its log. */
  dropsNoticed?: RelayFigures["dropsNoticed"];
  socketsClosed: boolean;
  noFramesLost: boolean;
  /** Upstream drops on purpose, and how long each call took to get its caller audio flowing again. */
  reconnects?: {
    drops: number;
    notReconnected: number;
    ms: Summary;
    allUnder2s: boolean;
    callsLost: number;
    gapFramesDropped: number;
  };
  samples: MemorySample[];
}

/**
 * Peak RSS growth between the two halves of the soak window, %. V8's heap grows in steps and
 * shrinks at a major GC, so RSS is a saw-tooth: a leak raises its peaks, while comparing single
 * samples would compare a trough with a crest.
 */
export function peakGrowthPercent(
  samples: MemorySample[],
  field: "rssMb" | "heapMb" = "rssMb",
): { first: number; second: number; growth: number } {
  const half = Math.floor(samples.length / 2);
  const first = Math.max(0, ...samples.slice(0, half).map((s) => s[field] ?? 0));
  const second = Math.max(0, ...samples.slice(half).map((s) => s[field] ?? 0));
  return { first, second, growth: first === 0 ? 0 : (100 * (second - first)) / first };
}

function soakVerdict(figures: RelayFigures): SoakVerdict {
  const { first, second, growth } = peakGrowthPercent(figures.rssSamples);
  const heap = peakGrowthPercent(figures.rssSamples, "heapMb");
  return {
    firstHalfPeakMb: first,
    secondHalfPeakMb: second,
    growthPercent: growth,
    rssFlat: growth <= 5,
    ...(heap.first === 0 ? {} : {
      heap: { firstHalfPeakMb: heap.first, secondHalfPeakMb: heap.second, growthPercent: heap.growth },
    }),
    ...(figures.dropsNoticed === undefined ? {} : { dropsNoticed: figures.dropsNoticed }),
    socketsClosed: figures.load.upstream.openAfterHangup === 0,
    noFramesLost: figures.framesLost.up === 0 && figures.framesLost.down === 0,
    samples: figures.rssSamples,
    ...(figures.reconnects === undefined ? {} : {
      reconnects: {
        drops: figures.reconnects.drops,
        notReconnected: figures.reconnects.pending,
        ms: figures.reconnects.ms,
        allUnder2s: figures.reconnects.pending === 0 && figures.reconnects.ms.max < 2000,
        callsLost: figures.failures.length,
        gapFramesDropped: figures.frames.up.lost,
      },
    }),
  };
}

function soakMarkdown(soak: SoakVerdict): string[] {
  const gc = soak.heap === undefined ? "" : ", each sampled right after a full GC";
  return [
    `Soak: peak RSS${gc} ${f1(soak.firstHalfPeakMb)} MB in the first half of the window (after warm-up), ` +
    `${f1(soak.secondHalfPeakMb)} MB in the second (${f1(soak.growthPercent)} %, target ≤ 5 %: ` +
    `${mark(soak.rssFlat)}); every upstream socket closed after its call: ${mark(soak.socketsClosed)}; ` +
    `0 frames lost: ${mark(soak.noFramesLost)}.`,
    ...(soak.reconnects === undefined ? [] : [
      "",
      `Upstream drops: ${soak.reconnects.drops}; drop → caller audio flowing on a new session ms ` +
      `p50/p99/max ${f1(soak.reconnects.ms.p50)} / ${f1(soak.reconnects.ms.p99)} / ${
        f1(soak.reconnects.ms.max)
      }; ` +
      `not reconnected: ${soak.reconnects.notReconnected}; every reconnect under 2 s: ${
        mark(soak.reconnects.allUnder2s)
      }; ` +
      `calls lost: ${soak.reconnects.callsLost} (${mark(soak.reconnects.callsLost === 0)}); caller frames ` +
      `dropped in the gaps on purpose: ${soak.reconnects.gapFramesDropped}.`,
    ]),
    ...(soak.dropsNoticed === undefined ? [] : [
      "",
      `How Parley noticed the drops (its log): a close from the server ${soak.dropsNoticed.byClose}, ` +
      `an abnormal close (1006: no close frame, a lost connection or the keepalive) ${soak.dropsNoticed.byAbnormalClose}, the 15 s stall watch ${soak.dropsNoticed.byStallWatch}.`,
    ]),
    ...(soak.heap === undefined ? [] : [
      "",
      `V8 heap after a full GC: peak ${f1(soak.heap.firstHalfPeakMb)} MB in the first half, ` +
      `${f1(soak.heap.secondHalfPeakMb)} MB in the second (${f1(soak.heap.growthPercent)} %).`,
    ]),
    "",
    `Memory samples (s → RSS MB${soak.heap === undefined ? "" : " / heap MB after GC"}): ${
      soak.samples.map((s) => `${s.atS}→${f1(s.rssMb)}${s.heapMb === undefined ? "" : `/${f1(s.heapMb)}`}`)
        .join(", ")
    }`,
  ];
}

/** Sockets flooding beside the healthy calls in `--flood`. */
const FLOOD_SOCKETS = 10;

function floodSummary(calm: RelayFigures, flooded: RelayFigures): string[] {
  const peak = (f: RelayFigures) => Math.max(f.rssActiveMb, ...f.rssSamples.map((s) => s.rssMb));
  const sent = flooded.flood?.framesSent ?? 0;
  const windowS = flooded.windowMs / 1000;
  return [
    `Flood: ${FLOOD_SOCKETS} sockets sending ${f1(sent / windowS / FLOOD_SOCKETS / 50)}× real time ` +
    `(${sent} frames in ${f1(windowS)} s) beside ${flooded.calls} healthy calls.`,
    "",
    "| healthy calls | no flood | beside the flood |",
    "| --- | --- | --- |",
    `| caller→OpenAI ms p50/p99 | ${f2(calm.upMs.p50)} / ${f2(calm.upMs.p99)} | ${f2(flooded.upMs.p50)} / ${
      f2(flooded.upMs.p99)
    } |`,
    `| OpenAI→caller ms p50/p99 | ${f2(calm.downMs.p50)} / ${f2(calm.downMs.p99)} | ${
      f2(flooded.downMs.p50)
    } / ${f2(flooded.downMs.p99)} |`,
    `| Parley RSS peak MB | ${f1(peak(calm))} | ${f1(peak(flooded))} |`,
    `| Parley CPU % core | ${f1(calm.cpuPercent)} | ${f1(flooded.cpuPercent)} |`,
    `| healthy frames lost up / down | ${calm.framesLost.up} / ${calm.framesLost.down} | ${flooded.framesLost.up} / ${flooded.framesLost.down} |`,
    `| failed calls | ${calm.failures.length} | ${flooded.failures.length} |`,
  ];
}

// ── Main ────────────────────────────────────────────────────────────────────────────────────────

const HELP = `deno task bench [--calls=1,50,200] [--duration=SECONDS] [--warmup=SECONDS] [--ramp=SECONDS]
                 [--relay=LIST] [--out=NAME] [--smoke | --soak | --profile]

  --smoke     5 calls for a few seconds (CI): exits 1 only if a frame is lost or a call fails
  --soak      50 calls × 10 minutes, Parley only, an upstream drop every ~2 min per call
              (--drop-every=SECONDS): 0 calls lost, reconnects under 2 s, RSS flat, sockets closed
  --profile   200 calls under deno --cpu-prof; summary in bench/results/profile.md
  --relay     comma-separated: parley (Realtime), parley-live (GPT-Live), bare (default: all three), and the floor's diagnostic variants
              bare-marks (+ Parley's mark traffic), bare-native (Deno's native upstream client),
              bare-raw (a client on Deno.connect with Nagle off)`;

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
      `after ${options.warmupS} s warm-up; relays: ${options.relays.join(", ")}`,
  );
  console.log(
    `${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Deno ${machine.deno}; ` +
      `load average ${machine.loadAverage.join(" ")}`,
  );
  if ((machine.loadAverage[0] ?? 0) > 0.5) {
    console.log("⚠️  Other work is running on this machine: latency and CPU figures will be noisier.");
  }

  const runs: RunFigures[] = [];
  let failed = false;
  for (const calls of options.calls) {
    const run: RunFigures = { calls, relays: {} };
    for (const kind of options.relays) {
      try {
        run.relays[kind] = await measure(kind, calls, options);
      } catch (error) {
        console.error(`❌ ${RELAY_TITLES[kind]} with ${calls} calls: ${(error as Error).message}`);
        failed = true;
      }
    }
    const { parley, bare } = run.relays;
    const live = run.relays["parley-live"];
    if (parley !== undefined && bare !== undefined) run.ratios = compare(parley, bare);
    if (live !== undefined && bare !== undefined) {
      run.ratios = { ...run.ratios, cpuPerCallLive: ratio(live.cpuMsPerCallMinute, bare.cpuMsPerCallMinute) };
    }
    if (parley !== undefined) run.targets = checkTargets(parley, run.ratios);
    for (const figures of Object.values(run.relays)) {
      if (figures.framesLost.up !== 0 || figures.framesLost.down !== 0 || figures.failures.length > 0) {
        failed = true;
      }
    }
    runs.push(run);
    printRun(run, options);
  }

  const floodLines: string[] = [];
  if (options.mode === "flood") {
    for (const run of runs) {
      const calm = run.relays.parley;
      if (calm === undefined) continue;
      try {
        const flooded = await measure("parley", run.calls, options, FLOOD_SOCKETS);
        if (flooded.framesLost.up !== 0 || flooded.framesLost.down !== 0 || flooded.failures.length > 0) {
          failed = true;
        }
        floodLines.push(...floodSummary(calm, flooded));
      } catch (error) {
        console.error(`❌ Flood run with ${run.calls} calls: ${(error as Error).message}`);
        failed = true;
      }
    }
    console.log("");
    for (const line of floodLines) console.log(line);
  }

  let soak: SoakVerdict | undefined;
  const soaked = runs[0]?.relays.parley;
  if (options.mode === "soak" && soaked !== undefined) {
    soak = soakVerdict(soaked);
    console.log("");
    for (const line of soakMarkdown(soak)) console.log(line);
    if (!soak.rssFlat || !soak.socketsClosed) failed = true;
    if (soak.reconnects !== undefined && (!soak.reconnects.allUnder2s || soak.reconnects.callsLost > 0)) {
      failed = true;
    }
  }

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
    markdown(runs, machine, options, soak) + firstWordMd +
      (floodLines.length > 0 ? `\n${floodLines.join("\n")}\n` : ""),
  );
  console.log(`\nWrote bench/results/${options.out}.json and bench/results/${options.out}.md`);
  if (failed) console.log("❌ Frames were lost or a call failed (see above)");
  return failed ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
