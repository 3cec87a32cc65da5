/**
 * Reads a V8 `.cpuprofile` (what `deno run --cpu-prof` writes) and lists where the time went:
 * self time per function and per area (Parley's `src/`, `npm:ws`, Deno's runtime, GC, idle).
 *
 * @module
 */

/** The parts of a `.cpuprofile` this reads. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function. */
export interface ProfileEntry {
  functionName: string;
  location: string;
  area: string;
  selfMs: number;
  /** Share of the busy (non-idle) time, %. */
  percent: number;
}

/** Where the time of one profile went. */
export interface ProfileSummary {
  /** Profile length, ms. */
  totalMs: number;
  /** Time with the main thread idle (waiting for I/O or timers), ms. */
  idleMs: number;
  /** Main-thread time not idle, ms. */
  busyMs: number;
  /** Self time per area, most first. */
  areas: { area: string; selfMs: number; percent: number }[];
  /** Functions with the most self time, most first. */
  top: ProfileEntry[];
  /**
   * The project's own functions (under `root`) by inclusive time: their self time plus everything
   * they called (JSON.parse, socket writes, SQLite…), most first. `selfMs` holds the inclusive time.
   */
  inclusive: ProfileEntry[];
}

/**
 * Sums self time per function and per area.
 *
 * @example
 * ```ts
 * const profile = JSON.parse(await Deno.readTextFile(path)) as CpuProfile;
 * const summary = summariseProfile(profile, { root: "/work/main/" });
 * ```
 */
export function summariseProfile(
  profile: CpuProfile,
  options: { root: string; top?: number },
): ProfileSummary {
  const byNode = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i + 1] is the time from sample i to the next: the time spent where sample i was.
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    byNode.set(id, (byNode.get(id) ?? 0) + delta);
  }
  const byFunction = new Map<string, ProfileEntry>();
  const byArea = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const node of profile.nodes) {
    const us = byNode.get(node.id) ?? 0;
    totalUs += us;
    if (us === 0) continue;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const area = areaOf(url, functionName, options.root);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const location = url === "" ? "" : `${shorten(url, options.root)}:${lineNumber + 1}:${columnNumber + 1}`;
    const key = `${functionName}@${location}`;
    const entry = byFunction.get(key) ??
      { functionName: functionName || "(anonymous)", location, area, selfMs: 0, percent: 0 };
    entry.selfMs += us / 1000;
    byFunction.set(key, entry);
  }
  const inclusive = inclusiveTimes(profile, byNode, options.root);
  const busyMs = (totalUs - idleUs) / 1000;
  const percent = (ms: number) => busyMs === 0 ? 0 : Math.round((1000 * ms) / busyMs) / 10;
  const top = [...byFunction.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, options.top ?? 25);
  for (const entry of top) {
    entry.selfMs = Math.round(entry.selfMs * 10) / 10;
    entry.percent = percent(entry.selfMs);
  }
  const areas = [...byArea.entries()]
    .map(([area, us]) => ({ area, selfMs: Math.round(us / 100) / 10, percent: percent(us / 1000) }))
    .sort((a, b) => b.selfMs - a.selfMs);
  const own = inclusive.slice(0, options.top ?? 25).map((entry) => ({
    ...entry,
    selfMs: Math.round(entry.selfMs * 10) / 10,
    percent: percent(entry.selfMs),
  }));
  return {
    totalMs: Math.round(totalUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    busyMs,
    areas,
    top,
    inclusive: own,
  };
}

/** Inclusive time of each function under `root`, counted once per sample even when recursive. */
function inclusiveTimes(profile: CpuProfile, byNode: Map<number, number>, root: string): ProfileEntry[] {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const totals = new Map<string, ProfileEntry>();
  for (const [id, us] of byNode) {
    if (nodes.get(id)?.callFrame.functionName === "(idle)") continue;
    const seen = new Set<string>();
    for (let cursor: number | undefined = id; cursor !== undefined; cursor = parent.get(cursor)) {
      const frame = nodes.get(cursor)!.callFrame;
      if (!frame.url.startsWith(`file://${root}`)) continue;
      const location = `${shorten(frame.url, root)}:${frame.lineNumber + 1}:${frame.columnNumber + 1}`;
      const key = `${frame.functionName}@${location}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = totals.get(key) ?? {
        functionName: frame.functionName || "(anonymous)",
        location,
        area: areaOf(frame.url, frame.functionName, root),
        selfMs: 0,
        percent: 0,
      };
      entry.selfMs += us / 1000;
      totals.set(key, entry);
    }
  }
  return [...totals.values()].sort((a, b) => b.selfMs - a.selfMs);
}

/** Markdown tables of a summary. */
export function profileMarkdown(summary: ProfileSummary, title: string): string {
  const lines = [
    `# ${title}`,
    "",
    `Main thread: ${
      Math.round(summary.busyMs)
    } ms busy, ${summary.idleMs} ms idle of ${summary.totalMs} ms ` +
    "(V8 sampling profile; self time).",
    "",
    "| area | self ms | % of busy |",
    "| --- | ---: | ---: |",
    ...summary.areas.map((a) => `| ${a.area} | ${a.selfMs} | ${a.percent} |`),
    "",
    "| function | where | self ms | % of busy |",
    "| --- | --- | ---: | ---: |",
    ...summary.top.map((e) =>
      `| \`${e.functionName}\` | ${e.location || "—"} | ${e.selfMs} | ${e.percent} |`
    ),
    "",
    "Project functions by inclusive time (self + everything they called):",
    "",
    "| function | where | inclusive ms | % of busy |",
    "| --- | --- | ---: | ---: |",
    ...summary.inclusive.map((e) => `| \`${e.functionName}\` | ${e.location} | ${e.selfMs} | ${e.percent} |`),
    "",
  ];
  return lines.join("\n");
}

function areaOf(url: string, functionName: string, root: string): string {
  if (url === "") {
    if (functionName === "(garbage collector)") return "V8 garbage collector";
    if (functionName === "(program)") return "V8/native (program)";
    return `native (${functionName || "anonymous"})`;
  }
  if (url.startsWith(`file://${root}src/`)) return `Parley ${url.slice(`file://${root}`.length)}`;
  if (url.startsWith(`file://${root}`)) return `Parley ${url.slice(`file://${root}`.length)}`;
  const npm = /\/registry\.npmjs\.org\/([^/]+)\//.exec(url) ?? /node_modules\/([^/]+)\//.exec(url);
  if (npm !== null) return `npm:${npm[1]}`;
  if (url.startsWith("ext:")) return url.slice(0, url.indexOf("/") > 0 ? url.indexOf("/") : undefined);
  if (url.startsWith("node:")) return url;
  return "other";
}

function shorten(url: string, root: string): string {
  if (url.startsWith(`file://${root}`)) return url.slice(`file://${root}`.length);
  const npm = /\/registry\.npmjs\.org\/(.+)$/.exec(url);
  if (npm !== null) return `npm:${npm[1]!.replace(/^([^/]+)\/[^/]+\//, "$1/")}`;
  return url;
}
