/** The `name=value` text areas' parser (`src/web/params.js`), tested as plain functions. */
import assert from "node:assert/strict";
import { formatParams, parseParams } from "../../src/web/params.js";

Deno.test("params: one name=value a line, trimmed, blank lines skipped, later '=' kept in the value", () => {
  assert.deepEqual(parseParams("lead = Dana\n\n  company=Acme  \nnote=a=b\n"), {
    ok: true,
    value: { lead: "Dana", company: "Acme", note: "a=b" },
  });
  assert.deepEqual(parseParams(""), { ok: true, value: {} });
  assert.deepEqual(parseParams("empty="), { ok: true, value: { empty: "" } });
});

Deno.test("params: a line that is not name=value is refused with its number and text", () => {
  assert.deepEqual(parseParams("lead=Dana\njust words"), {
    ok: false,
    error: 'Line 2: "just words" is not name=value',
  });
  assert.deepEqual(parseParams("=value"), { ok: false, error: 'Line 1: "=value" is not name=value' });
  const long = parseParams(`${"x".repeat(100)}`);
  assert.equal(long.ok, false);
  assert.ok(
    !long.ok && long.error.includes(`"${"x".repeat(40)}"`),
    "the line is quoted cut to 40 characters",
  );
});

Deno.test("params: formatting then parsing gives the same parameters back", () => {
  const params = { lead: "Dana Smith", company: "Acme, Inc.", url: "https://x.test/?a=1" };
  assert.equal(formatParams(params), "lead=Dana Smith\ncompany=Acme, Inc.\nurl=https://x.test/?a=1");
  assert.deepEqual(parseParams(formatParams(params)), { ok: true, value: params });
});
