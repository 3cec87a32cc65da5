/**
 * The guard against the Postgres driver's uncaught failures (`src/store/postgres/driver_faults.ts`),
 * each raised as it is in a storm of dropped connections, where no one could await it: the process
 * (here, the test) goes on, and the failure is reported. Anything else keeps its default effect.
 */

import assert from "node:assert/strict";
import { isDroppedSocketRead, survivePostgresDriverFaults } from "../../src/store/postgres/driver_faults.ts";

/** An error as Deno's Node-compat socket raises it when the server resets the connection. */
function resetRead(): Error {
  const error = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  error.stack = "Error: read ECONNRESET\n" +
    "    at TCPWrap.onStreamRead [as onread] (ext:deno_node/internal/stream_base_commons.ts:1:3690)";
  return error;
}

Deno.test("a reset connection's read rejected with no one waiting is reported, not fatal", async () => {
  const reports: string[] = [];
  const stop = survivePostgresDriverFaults((message) => reports.push(message));
  try {
    const reported = new Promise<void>((resolve) => {
      addEventListener("unhandledrejection", () => queueMicrotask(resolve), { once: true });
    });
    void Promise.reject(resetRead());
    await reported;
    assert.equal(reports.length, 1);
    assert.match(reports[0]!, /a read of a reset connection failed with no one waiting \(read ECONNRESET\)/);
  } finally {
    stop();
  }
});

Deno.test("only a Node-compat socket's reset read is taken for one", () => {
  assert.equal(isDroppedSocketRead(resetRead()), true);
  const elsewhere = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  elsewhere.stack = "Error: read ECONNRESET\n    at file:///app/src/relay/call_relay.ts:10:5";
  assert.equal(isDroppedSocketRead(elsewhere), false, "raised in Parley's own code: not swallowed");
  assert.equal(isDroppedSocketRead(Object.assign(resetRead(), { code: "ENOENT" })), false);
  assert.equal(isDroppedSocketRead("read ECONNRESET"), false);
});
