/**
 * `POST /api/personas/:id/rehearse` answers what it cannot do plainly: an unknown persona (404), a
 * bad body (400 naming the field), no token to sign with (503 naming both variables), no scenario for
 * the persona or a broken scenario file (a `problem` event naming the file and field).
 */

import assert from "node:assert/strict";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";

const API_TOKEN = "test-api-token-0123456789";

function post(parley: TestParley, id: string, body = "{}") {
  return fetch(`${parley.origin}/api/personas/${id}/rehearse`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
    body,
  });
}

Deno.test("the rehearse route refuses plainly what it cannot run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_rehearse_route_" });
  await Deno.writeTextFile(
    `${dir}/alex_only.ts`,
    `export default { persona: "alex", caller: { instructions: "x" }, expect: [{ name: "n", maxTurns: 3 }] };`,
  );
  const parley = await startTestParley({ env: { API_TOKEN }, scenariosDir: dir });
  try {
    const unknown = await post(parley, "nobody");
    assert.equal(unknown.status, 404);
    assert.match((await unknown.json()).error, /No persona "nobody"/);

    const badRuns = await post(parley, "tester", '{"runs": 0}');
    assert.equal(badRuns.status, 400);
    assert.match((await badRuns.json()).error, /^Field "runs": 0 is not a whole number from 1 to 20$/);

    // A body that parses but is not `{runs}` is a 400 naming what is wrong, never a 500 or ignored.
    for (
      const [body, pattern] of [
        ["null", /^Body: null is not a JSON object; send \{\} or \{"runs": 1\}$/],
        ["[3]", /^Body: an array is not a JSON object/],
        ['"three"', /^Body: "three" is not a JSON object/],
        ['{"run": 3}', /^Field "run": unknown field; the body takes only "runs"$/],
      ] as const
    ) {
      const refused = await post(parley, "tester", body);
      assert.equal(refused.status, 400, body);
      assert.match((await refused.json()).error, pattern, body);
    }
    assert.ok(
      !parley.logs.some((l) => l.line.includes("Unhandled error")),
      "nothing reached the 500 handler",
    );

    const none = await post(parley, "tester");
    assert.equal(none.status, 200);
    assert.equal(none.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.match(
      await none.text(),
      /^event: problem\ndata: \{"message":"No scenario in .* rehearses \\"tester\\"/,
    );

    await Deno.writeTextFile(
      `${dir}/broken.ts`,
      `export default { persona: "tester", caller: {}, expect: [] };`,
    );
    const broken = await (await post(parley, "tester")).text();
    assert.match(broken, /event: problem/);
    assert.match(broken, /broken\.ts: caller\.instructions: missing/);
    assert.match(broken, /broken\.ts: expect: empty/);

    const unauthorized = await fetch(`${parley.origin}/api/personas/tester/rehearse`, { method: "POST" });
    assert.equal(unauthorized.status, 401);
    await unauthorized.body?.cancel();
  } finally {
    await parley.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the rehearse route needs TWILIO_AUTH_TOKEN and API_TOKEN to sign and read records", async () => {
  const parley = await startTestParley({ env: { API_TOKEN, TWILIO_AUTH_TOKEN: "" } });
  try {
    const response = await post(parley, "tester");
    assert.equal(response.status, 503);
    assert.match((await response.json()).error, /TWILIO_AUTH_TOKEN and API_TOKEN.*deno task rehearse/);
  } finally {
    await parley.close();
  }
});
