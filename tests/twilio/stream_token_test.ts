/**
 * Stream tokens: bound to the CallSid, expiring, single use, checkable by any instance with the
 * same secret, and refused with a reason for every kind of tampering.
 */

import assert from "node:assert/strict";
import { createStreamTokens, isCallSid, STREAM_TOKEN_TTL_MS } from "../../src/twilio/stream_token.ts";

const SID = "CA0123456789abcdef0123456789abcdef";

Deno.test("a stream token is claimed once, for the CallSid it was issued for", async () => {
  const tokens = createStreamTokens({ secret: "auth-token-0123456789" });
  const token = tokens.issue(SID);
  assert.equal(tokens.outstanding(), 1);
  assert.deepEqual(await tokens.claim(token), { ok: true, callSid: SID });
  assert.equal(tokens.outstanding(), 0);
  assert.deepEqual(await tokens.claim(token), { ok: false, reason: "replayed" });
});

Deno.test("another instance with the same secret accepts the token; another secret does not", async () => {
  const token = createStreamTokens({ secret: "auth-token-0123456789" }).issue(SID);
  assert.deepEqual(await createStreamTokens({ secret: "auth-token-0123456789" }).claim(token), {
    ok: true,
    callSid: SID,
  });
  assert.deepEqual(await createStreamTokens({ secret: "another-token-98765" }).claim(token), {
    ok: false,
    reason: "forged",
  });
  assert.deepEqual(await createStreamTokens({ secret: undefined }).claim(token), {
    ok: false,
    reason: "forged",
  });
});

Deno.test("a stream token expires, and its used entry is pruned after expiry", async () => {
  let now = 1_000_000;
  const tokens = createStreamTokens({ secret: "auth-token-0123456789", now: () => now });
  const late = tokens.issue(SID);
  const used = tokens.issue(SID);
  assert.equal((await tokens.claim(used)).ok, true);
  now += STREAM_TOKEN_TTL_MS + 1;
  assert.deepEqual(await tokens.claim(late), { ok: false, reason: "expired" });
  assert.deepEqual(await tokens.claim(used), { ok: false, reason: "expired" });
  assert.equal(tokens.outstanding(), 0, "unclaimed tokens stop counting once expired");
});

Deno.test("tokens claimed out of order: each is refused as replayed until it expires, then as expired", async () => {
  let now = 1_000_000;
  const tokens = createStreamTokens({ secret: "auth-token-0123456789", now: () => now });
  const early = tokens.issue(SID);
  now += STREAM_TOKEN_TTL_MS / 2;
  const late = tokens.issue(SID);
  assert.equal((await tokens.claim(late)).ok, true); // the later token's entry goes in first
  assert.equal((await tokens.claim(early)).ok, true);
  now += STREAM_TOKEN_TTL_MS / 2 - 1; // the early one's last valid moment
  assert.deepEqual(await tokens.claim(early), { ok: false, reason: "replayed" });
  assert.deepEqual(await tokens.claim(late), { ok: false, reason: "replayed" });
  now += 2; // the early one expired; the late one, ahead of it in the ledger, has not
  assert.deepEqual(await tokens.claim(early), { ok: false, reason: "expired" });
  assert.deepEqual(await tokens.claim(late), { ok: false, reason: "replayed" });
  now += STREAM_TOKEN_TTL_MS / 2;
  assert.deepEqual(await tokens.claim(late), { ok: false, reason: "expired" });
  assert.equal(tokens.outstanding(), 0);
});

Deno.test("tampered stream tokens are refused with the reason", async () => {
  const tokens = createStreamTokens({ secret: "auth-token-0123456789" });
  const token = tokens.issue(SID);
  const [, expiry, mac] = token.split(".");
  const otherSid = "CAffffffffffffffffffffffffffffffff";
  assert.deepEqual(await tokens.claim(`${otherSid}.${expiry}.${mac}`), { ok: false, reason: "forged" });
  assert.deepEqual(await tokens.claim(`${SID}.${(parseInt(expiry!, 36) + 60_000).toString(36)}.${mac}`), {
    ok: false,
    reason: "forged",
  });
  assert.deepEqual(await tokens.claim(undefined), { ok: false, reason: "missing" });
  for (const bad of ["x", `${SID}.${expiry}`, `CA1.${expiry}.${mac}`, `${SID}.-1.${mac}`, "a.b.c.d"]) {
    assert.deepEqual(await tokens.claim(bad), { ok: false, reason: "malformed" }, bad);
  }
  assert.deepEqual(
    await tokens.claim(token),
    { ok: true, callSid: SID },
    "tampering did not use the real one up",
  );
});

Deno.test("isCallSid accepts CA followed by 32 hex digits only", () => {
  assert.ok(isCallSid(SID));
  for (
    const bad of [undefined, "", "CA123", `XX${SID.slice(2)}`, `${SID}0`, `${SID.slice(0, -1)}g`, `${SID}\n`]
  ) {
    assert.equal(isCallSid(bad), false, JSON.stringify(bad));
  }
});
