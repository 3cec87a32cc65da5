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
