/**
 * The bench's command line: which relays, how many calls, how long, and the mode (`--smoke`,
 * `--soak`, `--flood`, `--profile` or the default run), parsed into {@linkcode BenchOptions}.
 *
 * @module
 */

/**
 * Which relay a figure belongs to: Parley (`parley-tap`: with a no-op frame tap listening to every
 * call, `--tap`; `parley-record`: recording every call, `--record`), the floor, or one of the floor's diagnostic variants
 * (`bare-marks`: plus Parley's mark traffic; `bare-native`: Deno's native upstream client;
 * `bare-raw`: a client on Deno's TCP ops with Nagle off, see `bare_relay.ts`).
 */
export type RelayKind =
  | "parley"
  | "parley-tap"
  | "parley-record"
  | "parley-live"
  | "bare"
  | "bare-marks"
  | "bare-native"
  | "bare-raw";

/** Every relay the bench can run, in table order. */
export const RELAY_KINDS: readonly RelayKind[] = [
  "parley",
  "parley-tap",
  "parley-record",
  "parley-live",
  "bare",
  "bare-marks",
  "bare-native",
  "bare-raw",
];

/** Column titles of the relays. */
export const RELAY_TITLES: Record<RelayKind, string> = {
  parley: "Parley",
  "parley-tap": "Parley, tap listening",
  "parley-record": "Parley, recording",
  "parley-live": "Parley, GPT-Live",
  bare: "bare relay",
  "bare-marks": "bare + marks",
  "bare-native": "bare, native client",
  "bare-raw": "bare, raw client",
};

/** What the command line asked for. */
export interface BenchOptions {
  mode: "default" | "smoke" | "soak" | "flood" | "profile" | "cluster";
  /** `--cluster=N`: Parley instances on one Postgres, behind a round-robin proxy. */
  clusterSize: number | undefined;
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
  /** V8 flags for every relay measured (`--v8-flags=`), e.g. a young-generation cap; none by default. */
  v8Flags: string | undefined;
  /**
   * `--rounds=N`: every relay measured N times, in turn (A, B, C, A, B, C…), and the round with the
   * median CPU kept for each: the machine's drift between windows weighs less on the ratios. 1 by default.
   */
  rounds: number;
  /**
   * `--together`: the relays of a round measured side by side, each with its own load generator and
   * fake OpenAI, their windows opened together, so the machine's drift weighs on each alike. False by
   * default (one relay at a time).
   */
  together: boolean;
}

/** Parley's CPU per call-minute may be at most this many times the floor's, same run (issue 18 §8). */
export const CPU_RATIO_TARGET = 1.15;

/** Parley's RSS per active call may be at most this, MB (issue 18 §8: 300 KB). */
export const RSS_PER_CALL_TARGET_MB = 0.3;

/** Checks `--v8-flags=`: V8 flags only (`--name` or `--name=value`, comma-separated), nothing a shell would read. */
function v8Flags(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  for (const flag of text.split(",")) {
    if (!/^--[a-z0-9-]+(=[A-Za-z0-9._-]+)?$/.test(flag)) {
      throw new Error(`--v8-flags: "${flag.slice(0, 60)}" is not a V8 flag like --max-semi-space-size=1`);
    }
  }
  return text;
}

/** Parses the bench's flags. */
export function parseOptions(args: string[]): BenchOptions {
  const value = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const has = (name: string) => args.includes(`--${name}`);
  const known = [
    "calls",
    "duration",
    "warmup",
    "ramp",
    "relay",
    "out",
    "drop-every",
    "probe-every",
    "v8-flags",
    "cluster",
    "rounds",
  ];
  for (const arg of args) {
    const name = arg.replace(/^--/, "").replace(/=.*$/, "");
    if (
      !known.includes(name) &&
      !["smoke", "soak", "flood", "profile", "help", "tap", "record", "together"].includes(name)
    ) {
      throw new Error(`Unknown flag "${arg}": see deno task bench --help`);
    }
  }
  const clusterText = value("cluster");
  let clusterSize: number | undefined;
  if (clusterText !== undefined || has("cluster")) {
    clusterSize = Number(clusterText);
    if (!Number.isInteger(clusterSize) || clusterSize < 2 || clusterSize > 9) {
      throw new Error(
        `--cluster: "${(clusterText ?? "").slice(0, 20)}" is not a number of instances from 2 to 9`,
      );
    }
    const other = ["smoke", "soak", "flood", "profile", "tap", "record"].find(has) ??
      (value("relay") && "relay");
    if (other) throw new Error(`--cluster runs its own relays: it does not go with --${other}`);
  }
  const mode = clusterSize !== undefined
    ? "cluster"
    : has("smoke")
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
    // The floor, then Parley alone on SQLite, the cluster, and Parley alone again (the run's noise).
    cluster: { calls: [50], durationS: 10, warmupS: 3, rampS: 1, relays: ["bare", "parley"] },
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
  const roundsText = value("rounds");
  const rounds = roundsText === undefined ? 1 : Number(roundsText);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 9) {
    throw new Error(`--rounds: "${(roundsText ?? "").slice(0, 20)}" is not a number of rounds from 1 to 9`);
  }
  const together = has("together");
  if (together && mode !== "default" && mode !== "smoke") {
    throw new Error(
      `--together measures the relays of a load run side by side: it does not go with --${mode}`,
    );
  }
  const relayText = value("relay");
  const asked = relayText === undefined
    ? defaults.relays as RelayKind[]
    : relayText.split(",").flatMap((r) => {
      if (r === "both") return ["parley", "parley-live", "bare"] as RelayKind[];
      if (!(RELAY_KINDS as readonly string[]).includes(r)) {
        throw new Error(`--relay: "${r}" is not one of both, ${RELAY_KINDS.join(", ")}`);
      }
      return [r as RelayKind];
    });
  // --tap: Parley again with a no-op tap listening, right after Parley (the tap's cost, same run).
  // --record: Parley again recording every call (persona `tester` with record: true), likewise.
  const extra: RelayKind[] = [
    ...(has("tap") && !asked.includes("parley-tap") ? ["parley-tap"] as const : []),
    ...(has("record") && !asked.includes("parley-record") ? ["parley-record"] as const : []),
  ];
  const relays = extra.length === 0
    ? asked
    : asked.flatMap((r): RelayKind[] => r === "parley" ? ["parley", ...extra] : [r]);
  return {
    mode,
    calls,
    durationS: number("duration", defaults.durationS),
    warmupS: number("warmup", defaults.warmupS),
    rampS: number("ramp", defaults.rampS),
    relays,
    out: value("out") ??
      {
        default: "latest",
        smoke: "smoke",
        soak: "soak",
        flood: "flood",
        profile: "profile",
        cluster: "cluster",
      }[
        mode
      ],
    clusterSize,
    dropEveryMs: mode === "soak" ? number("drop-every", 120) * 1000 : undefined,
    interruptEveryMs: mode === "soak" ? 20_000 : undefined,
    sampleEveryMs: mode === "soak" ? 10_000 : mode === "flood" ? 2_000 : undefined,
    probeEveryMs: number("probe-every", mode === "soak" ? 1 : 0.25) * 1000,
    v8Flags: v8Flags(value("v8-flags")),
    rounds,
    together,
  };
}
