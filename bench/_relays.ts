/**
 * One relay measured at one call count: starts Parley (`bench/_gc_main.ts`, `main.ts` with the bench's
 * GC hook, under the `start` task's flags) or the bare relay as a subprocess, or a cluster of Parley
 * instances behind a proxy (`_cluster.ts`), runs the load against it and gathers its figures (latency,
 * CPU, RSS, frames, failures, and its CPU profile under `--profile`). RSS is read right after a full
 * GC in every relay process (each instance of a cluster alike). Every mode is made of these runs.
 *
 * @module
 */

import { MEDIA_STREAM_PATH, VOICE_WEBHOOK_PATH } from "../src/paths.ts";
import type { FrameCounts, Summary } from "../testing/frames.ts";
import { Flood } from "./_flood.ts";
import { type LoadPlan, type LoadResult, LoadRun, sleep } from "./_load.ts";
import type { BenchOptions, RelayKind } from "./_options.ts";
import { RELAY_TITLES } from "./_options.ts";
import { type ProcSnapshot, readProcs, type ServerProcess, type ServerSpec, spawnServer } from "./_proc.ts";
import {
  BesideReadings,
  type RelayStarter,
  type RelayUnderTest,
  singleProcess,
} from "./_relay_under_test.ts";

export type { RelayStarter, RelayUnderTest };
import { type CpuProfile, type ProfileSummary, summariseProfile } from "./_profile.ts";

/** The repository's root folder (with a trailing slash). */
export const ROOT = new URL("../", import.meta.url).pathname;
const PUBLIC_BASE_URL = "https://parley.test";
const AUTH_TOKEN = "bench-auth-token-0123456789abcdef";

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
  /** The probe calls' signed voice webhooks under the steady load: POST → TwiML read, ms. */
  webhookMs: Summary;
  /** The N calls' webhooks, all posted within the ramp. */
  rampWebhookMs: Summary;
  speechToClearMs: Summary;
  /** CPU time of every process of the relay (all instances of a cluster), per call-minute, ms. */
  cpuMsPerCallMinute: number;
  /** Share of one core used by the relay process during the window, %. */
  cpuPercent: number;
  /** RSS after the priming call and a full GC, MB (every instance of a cluster summed). */
  rssIdleMb: number;
  /** RSS with the N calls still open, after a full GC, MB (summed likewise). */
  rssActiveMb: number;
  /** (active − idle) ÷ N, MB. */
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
  /** Processes beside the relay (a cluster's Postgres, the proxy): their share of one core, %. */
  beside?: Record<string, { cpuPercent: number }>;
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

/** True for Parley itself (main.ts), false for the floor and its variants. */
function isParley(kind: RelayKind): boolean {
  return kind === "parley" || kind === "parley-tap" || kind === "parley-record" || kind === "parley-live";
}

/** Starts one relay as a subprocess on a free port, its data and profile in the given folders. */
export async function startRelay(
  kind: RelayKind,
  upstreamUrl: string,
  options: RelayLaunch,
): Promise<ServerProcess> {
  return await spawnServer(await relaySpec(kind, upstreamUrl, options));
}

/** Where a relay keeps its data and profile, its name and extra environment, and its V8 flags. */
export interface RelayLaunch {
  dataDir: string;
  profileDir: string | undefined;
  /** Name for messages. @default the relay's title */
  name?: string;
  /** More environment for Parley (a cluster's DATABASE_URL and INSTANCE_ID). */
  env?: Record<string, string>;
  /** Extra V8 flags (`--v8-flags=`), given to Parley and the floor alike. */
  v8Flags?: string;
}

/**
 * How the bench starts one relay: Parley under the `start` task's flags, the floor with its own; each
 * under `--expose-gc` with the bench's GC hook (`_gc_hook.ts`), so RSS is read after a full GC in both.
 */
export async function relaySpec(
  kind: RelayKind,
  upstreamUrl: string,
  options: RelayLaunch,
): Promise<ServerSpec> {
  // Every relay answers SIGUSR2 with a full GC (`_gc_hook.ts`): RSS is read after one, in each alike.
  const profile = [
    ...options.profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`],
    `--v8-flags=--expose-gc${options.v8Flags === undefined ? "" : `,${options.v8Flags}`}`,
  ];
  if (isParley(kind)) {
    const entry = kind === "parley-tap" ? ["bench/_tap_main.ts"] : ["bench/_gc_main.ts"];
    return {
      name: options.name ?? RELAY_TITLES[kind],
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
        ...(kind !== "parley-live"
          ? {
            OPENAI_REALTIME_URL: upstreamUrl,
            // parley-record: the same `tester`, with record: true (to DATA_DIR/recordings).
            PERSONAS_DIR: `${ROOT}tests/testdata/${
              kind === "parley-record" ? "recording_personas" : "personas"
            }`,
            DEFAULT_PERSONA: "tester",
            // The bench's webhooks are calls Parley did not place: the inbound persona answers them.
            INBOUND_PERSONA: "tester",
          }
          : {
            OPENAI_LIVE_URL: upstreamUrl,
            PERSONAS_DIR: `${ROOT}tests/testdata/live_personas`,
            DEFAULT_PERSONA: "tester_live",
            INBOUND_PERSONA: "tester_live",
          }),
        // The bench runs more calls at once than the default cap of 100.
        MAX_CONCURRENT_CALLS: "100000",
        ...options.env,
      },
      listening: /Parley listening on http:\/\/localhost:(\d+)/,
    };
  }
  return {
    name: options.name ?? RELAY_TITLES[kind],
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE",
      ...profile,
      "bench/bare_relay.ts",
      `--upstream=${upstreamUrl}`,
      ...({
        parley: [],
        "parley-tap": [],
        "parley-record": [],
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
  };
}

/**
 * Opens the measured windows of relays run side by side (`--together`) at one moment: each relay's
 * run waits in {@linkcode WindowGate.arrive} until every other has arrived or left ({@linkcode measure}
 * leaves for a run that failed before its window, so the others do not wait for it).
 *
 * @example
 * ```ts
 * const gate = new WindowGate(2);
 * await Promise.all([measure("parley", 50, options, 0, undefined, gate), measure("bare", 50, options, 0, undefined, gate)]);
 * ```
 */
export class WindowGate {
  #waiting: number;
  readonly #open: Promise<void>;
  #release!: () => void;

  /** A gate for `relays` relays. */
  constructor(relays: number) {
    this.#waiting = relays;
    this.#open = new Promise((resolve) => this.#release = resolve);
    if (relays <= 0) this.#release();
  }

  /** This relay is ready to open its window: resolves once every relay is (or has left). */
  arrive(): Promise<void> {
    this.#leave();
    return this.#open;
  }

  /** This relay will not arrive: its run failed before its window. */
  leave(): void {
    this.#leave();
  }

  #leave(): void {
    if (--this.#waiting === 0) this.#release();
  }
}

/**
 * Runs one relay at one N and gathers its figures. `start` replaces the one process of `kind` (a
 * cluster behind a proxy); `label` names the run in progress lines.
 */
export async function measure(
  kind: RelayKind,
  calls: number,
  options: BenchOptions,
  floodSockets = 0,
  start?: { label: string; start: RelayStarter },
  windowsOpen?: WindowGate,
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
  const label = `${start?.label ?? RELAY_TITLES[kind]}, ${calls} call${calls === 1 ? "" : "s"}` +
    (floodSockets > 0 ? ` + ${floodSockets} flooding` : "");
  let flood: Flood | undefined;
  let relay: RelayUnderTest | undefined;
  const extraFailures: string[] = [];
  /** This run reached its window (with `windowsOpen`: the others no longer wait for it). */
  let arrived = false;
  try {
    const collectBeforeSamples = options.mode === "soak";
    relay = start !== undefined ? await start.start(load.fake.url, dataDir) : singleProcess(
      await startRelay(kind, load.fake.url, {
        dataDir,
        profileDir,
        ...(options.v8Flags === undefined ? {} : { v8Flags: options.v8Flags }),
      }),
      isParley(kind),
    );
    // Every relay process (each instance of a cluster) answers SIGUSR2 with a full GC (`_gc_hook.ts`).
    const servers = relay.servers;
    await sleep(500);
    const pids = relay.pids;
    let idle: ProcSnapshot | undefined;
    let before: ProcSnapshot | undefined;
    let after: ProcSnapshot | undefined;
    let active: ProcSnapshot | undefined;
    const beside = new BesideReadings(relay.beside ?? {});
    const rssSamples: MemorySample[] = [];
    let collections = 0;
    const result = await load.run({
      hostname: "127.0.0.1",
      port: relay.port,
      path: MEDIA_STREAM_PATH,
      authToken: AUTH_TOKEN,
      publicBaseUrl: PUBLIC_BASE_URL,
      ...(isParley(kind) ? { webhookPath: VOICE_WEBHOOK_PATH } : {}),
      ...(relay.freshConnections === true ? { freshConnections: true } : {}),
      ...(relay.primingCalls === undefined ? {} : { primingCalls: relay.primingCalls }),
    }, {
      // Idle: after the priming call (every code path has run once) and a full GC.
      primed: async () => {
        await collectGarbageIn(servers, ++collections);
        idle = await readProcs(pids);
      },
      windowStart: async () => {
        arrived = true;
        await windowsOpen?.arrive();
        if (floodSockets > 0) {
          const target = { port: relay!.port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL };
          flood = await Flood.start(target, load.fake, floodSockets);
        }
        await beside.read("before");
        before = await readProcs(pids);
      },
      windowEnd: async () => {
        after = await readProcs(pids);
        await beside.read("after");
        // With the N calls still open: RSS after a full GC in every process (its CPU falls outside the window).
        await collectGarbageIn(servers, ++collections);
        active = await readProcs(pids);
        await flood?.stop();
      },
      sample: async (ms) => {
        const heapMb = collectBeforeSamples ? await collectGarbageIn(servers, ++collections) : undefined;
        const snapshot = await readProcs(pids);
        const atS = Math.round(ms / 1000);
        rssSamples.push({ atS, rssMb: snapshot.rssKb / 1024, ...(heapMb === undefined ? {} : { heapMb }) });
        console.log(
          `   ${label}: ${atS} s, RSS ${(snapshot.rssKb / 1024).toFixed(1)} MB` +
            (heapMb === undefined ? "" : `, heap ${heapMb.toFixed(1)} MB (after a full GC)`),
        );
      },
      progress: (line) => console.log(`   ${label}: ${line}`),
    });
    for (const port of relay.parleyPorts) {
      const active = await activeCallsAfterHangUp(port);
      if (active !== 0) {
        extraFailures.push(
          `Parley on port ${port} still reports ${active} active call(s) after every hang-up`,
        );
      }
    }
    extraFailures.push(...await relay.stop());
    const stderr = relay.stderr().filter((line) => line.trim() !== "");
    if (stderr.some((line) => /NotCapable|Requires .* access/.test(line))) {
      extraFailures.push(
        `${relay.name} lacked a permission: ${stderr.find((l) => /NotCapable|Requires/.test(l))}`,
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
      webhookMs: result.webhookMs,
      rampWebhookMs: result.rampWebhookMs,
      speechToClearMs: result.speechToClearMs,
      cpuMsPerCallMinute: windowCpuMs / (calls * (windowMs / 60_000)),
      cpuPercent: (100 * windowCpuMs) / windowMs,
      rssIdleMb: idle!.rssKb / 1024,
      rssActiveMb: active!.rssKb / 1024,
      rssPerCallMb: (active!.rssKb - idle!.rssKb) / 1024 / calls,
      // Caller frames spoken in a reconnect gap are dropped on purpose: not lost.
      framesLost: {
        up: Math.max(0, result.up.frames.lost - (result.reconnects?.gapFrames ?? 0)),
        // A pre-warmed session no call used (the media socket reached another instance) spoke to no one.
        down: Math.max(
          0,
          result.down.frames.lost -
            (relay.unusedPrewarmsAreNotLost === true ? result.upstream.unusedPrewarmDeltas : 0),
        ),
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
      ...(result.reconnects === undefined ? {} : { dropsNoticed: dropsNoticed(relay.stderr()) }),
      ...(flood === undefined ? {} : { flood: { sockets: floodSockets, framesSent: flood.framesSent } }),
      stderr: stderr.slice(0, 10),
      ...(relay.beside === undefined ? {} : { beside: beside.cpuPercent() }),
    };
    if (profileDir !== undefined) {
      const profile = await readProfile(`${ROOT}${profileDir}`);
      if (profile !== undefined) figures.profile = profile;
    }
    return figures;
  } finally {
    if (!arrived) windowsOpen?.leave();
    await relay?.stop(2_000);
    await Deno.remove(`${ROOT}${dataDir}`, { recursive: true }).catch(() => {});
  }
}

/** Parley's `activeCalls` once it settles at 0 (or what it still says after 5 s). */
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

/** The summary of the first `.cpuprofile` in `dir`, if any. */
async function readProfile(dir: string): Promise<ProfileSummary | undefined> {
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".cpuprofile")) continue;
    const profile = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)) as CpuProfile;
    return summariseProfile(profile, { root: ROOT, top: 30 });
  }
  return undefined;
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

/**
 * Asks every relay process (each instance of a cluster) for full GC number `n`, all at once; resolves
 * with their heaps after it, summed, MB.
 */
export async function collectGarbageIn(servers: readonly ServerProcess[], n: number): Promise<number> {
  const heaps = await Promise.all(servers.map((server) => collectGarbage(server, n)));
  return heaps.reduce((sum, heap) => sum + heap, 0);
}

/** Asks the relay (`_gc_hook.ts`, in Parley and the floor) for full GC number `n`; resolves with the heap after it, MB. */
export async function collectGarbage(server: ServerProcess, n: number): Promise<number> {
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
