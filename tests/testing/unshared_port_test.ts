/**
 * Unshared ports: a port `unsharedPort()` picked is reserved, kept from every test process's picks
 * until released (a restarted Postgres listens on it again), and a reservation whose process died is
 * void.
 */

import assert from "node:assert/strict";
import { isReservedPort, releasePort, unsharedPort } from "../../testing/unshared_port.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";

const MODULE = new URL("../../testing/unshared_port.ts", import.meta.url).href;

/** Runs `code` in a new Deno process with `mod` imported from the module; returns what it printed. */
async function inAnotherProcess(code: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `import * as mod from ${JSON.stringify(MODULE)}; ${code}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout).trim();
}

Deno.test("a port unsharedPort() picked is reserved for every process until released; one whose holder died is not", async () => {
  const port = unsharedPort();
  try {
    assert.equal(isReservedPort(port), true);
    assert.equal(await inAnotherProcess(`console.log(mod.isReservedPort(${port}))`), "true");
  } finally {
    releasePort(port);
  }
  assert.equal(isReservedPort(port), false);
  assert.equal(await inAnotherProcess(`console.log(mod.isReservedPort(${port}))`), "false");
  releasePort(port); // again: harmless

  // A process that picks a port and ends without releasing it leaves a void reservation.
  const orphan = Number(await inAnotherProcess(`console.log(mod.unsharedPort())`));
  assert.ok(orphan > 0);
  assert.equal(isReservedPort(orphan), false, "its holder is gone");
});

Deno.test({
  name: "a throwaway Postgres keeps its port reserved through a restart, and frees it at stop",
  ignore: !postgresAvailable() || (Deno.env.get("PARLEY_TEST_DATABASE_URL") ?? "") !== "",
  async fn() {
    const server = await startThrowawayPostgres();
    const port = Number(new URL(server.url).port);
    try {
      assert.equal(isReservedPort(port), true);
      let whileDown: boolean | undefined;
      await server.restart!(() => {
        whileDown = isReservedPort(port);
        return Promise.resolve();
      });
      assert.equal(whileDown, true, "reserved while the server was down");
    } finally {
      await server.stop();
    }
    assert.equal(isReservedPort(port), false, "free once stopped");
  },
});
