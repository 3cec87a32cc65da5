import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { CallEvent } from "../../src/calls/call_events.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import { runStoreContract, type StoreFactory } from "./_contract.ts";

/** Stores over one fresh `parley.db` in a temporary DATA_DIR. */
function sqliteFactory(): StoreFactory {
  const dir = Deno.makeTempDirSync({ prefix: "parley_contract_" });
  return {
    open: (instance) =>
      Promise.resolve(
        openSqliteStore(callDatabasePath(dir), { instance, onError: (message) => console.error(message) }),
      ),
    dispose: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("the SQLite store keeps the storage contract", (t) => runStoreContract(t, sqliteFactory));

Deno.test("SQLite: the crash clean-up also closes records from before instances were named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_contract_" });
  const path = callDatabasePath(dir);
  const open = (instance: string) => openSqliteStore(path, { instance });
  const started = (callSid: string): CallEvent => ({
    type: "call.started",
    at: 1_000,
    callSid,
    streamSid: "MZ1",
    persona: "alex",
    model: "gpt-realtime-2.1",
    parameters: {},
  });
  try {
    const before = open("old");
    await before.calls.record(started("CA_UNNAMED"));
    await before.calls.record(started("CA_PEER"));
    before.close();
    // Migration 6 added the column: rows written before it have no instance.
    const db = new DatabaseSync(path);
    db.prepare("UPDATE calls SET instance = NULL WHERE call_sid = 'CA_UNNAMED'").run();
    db.prepare("UPDATE calls SET instance = 'peer' WHERE call_sid = 'CA_PEER'").run();
    db.close();
    const store = open("this-host");
    try {
      assert.equal((await store.calls.getCall("CA_UNNAMED"))?.instance, null);
      assert.deepEqual(await store.calls.closeAbandonedRecords("server_crashed", "restart"), ["CA_UNNAMED"]);
      assert.equal((await store.calls.getCall("CA_PEER"))?.endedAt, null);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
