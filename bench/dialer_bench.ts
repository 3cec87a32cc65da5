/**
 * The campaign dialer's overhead: with 1,000 leads pending in one campaign (SQLite, a temporary
 * DATA_DIR), how long from the moment the leads' window opens to the first Twilio REST request, and how
 * many store calls each dialled call costs. Calls go through the real call-placing service to the fake
 * Twilio REST API (`testing/fake_twilio_rest.ts`) on 127.0.0.1; the clock is a fake one the bench moves.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-net=127.0.0.1 bench/dialer_bench.ts            # 1,000 leads
 * deno run --allow-read --allow-write --allow-net=127.0.0.1 bench/dialer_bench.ts --leads=5000
 * ```
 *
 * @module
 */

import { CallHub } from "../src/calls/call_hub.ts";
import { createOutboundCalls } from "../src/calls/place_call.ts";
import { Dialer } from "../src/dialer/dialer.ts";
import { createLogger } from "../src/log.ts";
import type { Campaigns } from "../src/store/ports.ts";
import { callDatabasePath } from "../src/store/sqlite/call_store.ts";
import { openSqliteStore } from "../src/store/sqlite/store.ts";
import { DEFAULT_RETRY } from "../src/dialer/outcomes.ts";
import { startFakeTwilioRest } from "../testing/fake_twilio_rest.ts";

const leads = Number(Deno.args.find((a) => a.startsWith("--leads="))?.slice(8) ?? 1000);
const ACCOUNT = `AC${"e".repeat(32)}`;
const TOKEN = "dialer-bench-token-0123456789";
const dir = await Deno.makeTempDir({ prefix: "parley_dialer_bench_" });
const store = openSqliteStore(callDatabasePath(dir), { instance: "bench" });
const rest = startFakeTwilioRest({ accountSid: ACCOUNT, authToken: TOKEN });

/** Counts every call to the campaign store, by method. */
const counts = new Map<string, number>();
const counted = new Proxy(store.campaigns!, {
  get(target, name, receiver) {
    const value = Reflect.get(target, name, receiver);
    if (typeof value !== "function") return value;
    return (...args: unknown[]) => {
      counts.set(String(name), (counts.get(String(name)) ?? 0) + 1);
      return value.apply(target, args);
    };
  },
}) as Campaigns;

let firstRequestAt: number | undefined;
const timedFetch: typeof fetch = (input, init) => {
  firstRequestAt ??= performance.now();
  return fetch(input, init);
};

// Monday 2026-12-07 08:59:59 in New York: the window opens at 09:00.
const opens = Date.parse("2026-12-07T14:00:00Z");
let now = opens - 1000;
const hub = new CallHub();
const log = createLogger({ sink: () => {} });
const dialer = new Dialer({
  campaigns: counted,
  doNotCall: store.doNotCall!,
  instance: "bench",
  hub,
  log,
  now: () => now,
  tickMs: 0,
  refuseOutbound: () => undefined,
  placeCall: createOutboundCalls({
    config: {
      twilioAccountSid: ACCOUNT,
      twilioAuthToken: TOKEN,
      twilioPhoneNumber: "+14155550199",
      twilioApiBaseUrl: rest.baseUrl,
      publicBaseUrl: "https://parley.test",
    },
    hub,
    log,
    fetch: timedFetch,
  }),
});
try {
  const campaign = await store.campaigns!.create(
    {
      name: "Bench",
      persona: "alex",
      voice: undefined,
      parameters: {},
      window: { timezone: "America/New_York", days: ["mon"], start: "09:00", end: "17:00" },
      maxConcurrent: 10,
      callsPerSecond: 10,
      retry: { ...DEFAULT_RETRY },
      machineDetection: true,
    },
    Array.from({ length: leads }, (_, i) => ({
      leadId: null,
      name: `Lead ${i}`,
      phone: `+1415${String(5_000_000 + i).padStart(7, "0")}`,
      timezone: null,
      fields: {},
    })),
    "running",
  );
  await dialer.start();
  // Before 09:00 every lead is put back until the window opens (one pass sets them all).
  const parkStart = performance.now();
  await dialer.tick();
  const parkMs = performance.now() - parkStart;
  counts.clear();
  now = opens;
  const openStart = performance.now();
  await dialer.tick();
  const placed = rest.requests.length;
  const toFirst = firstRequestAt! - openStart;
  const storeCalls = [...counts.values()].reduce((a, b) => a + b, 0);
  console.log(`Leads pending: ${leads} (campaign ${campaign.id}, maxConcurrent 10, 10 calls/s)`);
  console.log(`Pass before the window (every lead put back until 09:00): ${parkMs.toFixed(1)} ms`);
  console.log(`Window opens → first Twilio REST request: ${toFirst.toFixed(1)} ms`);
  console.log(
    `Calls placed in the first pass: ${placed}; pass took ${(performance.now() - openStart).toFixed(1)} ms`,
  );
  console.log(
    `Store calls per dialled call: ${(storeCalls / placed).toFixed(1)} (${
      [...counts].map(([name, n]) => `${name} ${n}`).join(", ")
    })`,
  );
} finally {
  dialer.close();
  await rest.shutdown();
  store.close();
  await Deno.remove(dir, { recursive: true });
}
