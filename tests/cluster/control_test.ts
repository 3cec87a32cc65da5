/**
 * Control by CallSid across instances (issue 19 §2, §4): two Parleys on one Postgres, each with its
 * own store; the request reaches B while the call runs on A, and A acts on it over the database's
 * control channel.
 */

import assert from "node:assert/strict";
import { newCallSid, TEST_AUTH_TOKEN, type TestParley } from "../../testing/parley_harness.ts";
import { type PostgresPair, withPostgresPair } from "../../testing/postgres_pair.ts";
import { postgresAvailable, startThrowawayPostgres, type ThrowawayPostgres } from "../../testing/postgres.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import { within } from "../../testing/within.ts";
import { AFTER_STREAM_PATH, STATUS_CALLBACK_PATH } from "../../src/paths.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";

const ignore = !postgresAvailable();
const API_TOKEN = "cluster-api-token-0123456789";
const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);

/** Two Parleys (A, B) on a fresh database of `server`, closed after `body`. */
function withPair(
  server: ThrowawayPostgres,
  env: Record<string, string>,
  body: (pair: PostgresPair) => Promise<void>,
  personasDir?: string,
): Promise<void> {
  // A pre-warm lives a minute: closing one within the test's seconds is the control channel's doing.
  return withPostgresPair(server, {
    env: { API_TOKEN, ...env },
    prewarmTtlMs: 60_000,
    ...(personasDir === undefined ? {} : { personasDir }),
  }, body);
}

function hangUpOn(t: TestParley, callSid: string): Promise<{ status: number; body: unknown }> {
  return fetch(`${t.origin}/api/calls/${callSid}/hangup`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}` },
  }).then(async (response) => ({ status: response.status, body: await response.json() }));
}

Deno.test({
  name: "several instances on Postgres: control by CallSid reaches the instance that runs the call",
  ignore,
  async fn(t) {
    const server = await startThrowawayPostgres();
    try {
      await t.step("a hang-up on B (no Twilio credentials) ends the call's stream on A", async () => {
        await withPair(server, {}, async ({ a, b, storeA }) => {
          const call = await a.startCall();
          await within(a.waitForEvent("call.started"), "the call to start on A");
          await storeA.calls.flush(); // B reads the open record from the database
          const answer = await hangUpOn(b, call.callSid);
          assert.deepEqual(answer, { status: 200, body: { callSid: call.callSid, via: "stream" } });
          const ended = await within(a.waitForEvent("call.ended"), "the call to end on A");
          assert.equal(ended.reason, "hung_up_by_user");
          await within(call.closed, "A to close the media socket");
          await storeA.calls.flush();
          assert.equal((await storeA.calls.getCall(call.callSid))?.endReason, "hung_up_by_user");
        });
      });

      await t.step(
        "Twilio's <Connect action> reaching B as soon as A hands the call back reads A's decision",
        async () => {
          await withPair(server, {}, async ({ a, b, storeA }) => {
            const call = await a.startCall();
            await within(a.waitForEvent("call.started"), "the call to start on A");
            await storeA.calls.flush();
            assert.equal((await hangUpOn(b, call.callSid)).status, 200);
            // Twilio asks for what comes after <Connect> the moment its stream is closed: A may not
            // have stored its decision yet.
            await within(call.closed, "A to close the media socket");
            const after = await b.postTwilio(`${AFTER_STREAM_PATH}?persona=tester`, {
              CallSid: call.callSid,
            });
            assert.match(await after.text(), /<Hangup\s*\/>/, "the user's hang-up, not the fallback");
          });
        },
      );

      await t.step("a hang-up through Twilio on B: the stop A then gets is the user's", async () => {
        const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
        try {
          const env = {
            TWILIO_ACCOUNT_SID: ACCOUNT_SID,
            TWILIO_PHONE_NUMBER: "+14155550199",
            TWILIO_API_BASE_URL: rest.baseUrl,
          };
          await withPair(server, env, async ({ a, b, storeA }) => {
            const call = await a.startCall();
            await within(a.waitForEvent("call.started"), "the call to start on A");
            await storeA.calls.flush();
            const answer = await hangUpOn(b, call.callSid);
            assert.deepEqual(answer, { status: 200, body: { callSid: call.callSid, via: "twilio" } });
            assert.equal(
              rest.requests.filter((r) => r.path.endsWith(`/Calls/${call.callSid}.json`)).length,
              1,
            );
            await within(
              a.waitForLog(/being hung up through Twilio \(asked by another instance\)/),
              "A told",
            );
            call.stop(); // Twilio ends the call: A's media stream gets its stop
            const ended = await within(a.waitForEvent("call.ended"), "the call to end on A");
            assert.equal(ended.reason, "hung_up_by_user");
          });
        } finally {
          await rest.shutdown();
        }
      });

      await t.step(
        "a hang-up through Twilio on B of a call A answered, its stream still to come: A ends it hung_up_by_user",
        async () => {
          const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
          try {
            const env = {
              TWILIO_ACCOUNT_SID: ACCOUNT_SID,
              TWILIO_PHONE_NUMBER: "+14155550199",
              TWILIO_API_BASE_URL: rest.baseUrl,
            };
            await withPair(server, env, async ({ a, b, storeA }) => {
              const callSid = newCallSid();
              await a.answerWebhook(callSid); // A waits for its stream (the never-connected watch)
              await storeA.calls.flush(); // B reads the open record from the database
              const answer = await hangUpOn(b, callSid);
              assert.deepEqual(answer, { status: 200, body: { callSid, via: "twilio" } });
              await within(
                a.waitForLog(
                  /being hung up through Twilio before its stream started \(asked by another instance\)/,
                ),
                "A told",
              );
              // Twilio ends the call: its final status reaches A, which placed it.
              const status = await a.postTwilio(STATUS_CALLBACK_PATH, {
                CallSid: callSid,
                CallStatus: "canceled",
              });
              assert.equal(status.status, 204);
              const ended = await within(a.waitForEvent("call.ended"), "the call to end on A");
              assert.equal(ended.reason, "hung_up_by_user");
              assert.match(ended.detail, /hung up before the call connected/);
            });
          } finally {
            await rest.shutdown();
          }
        },
      );

      await t.step("Twilio's answering-machine callback reaching B acts on the call on A", async () => {
        await withPair(server, {}, async ({ a, b }) => {
          const call = await a.startCall();
          await within(a.waitForEvent("call.started"), "the call to start on A");
          const status = await b.postTwilio("/api/twilio/status", {
            CallSid: call.callSid,
            AnsweredBy: "machine_end_beep",
          });
          assert.equal(status.status, 204);
          // `tester` has no voicemail message: A hangs up on the machine.
          await within(
            a.waitForLog(new RegExp(`Answering machine on CallSid=${call.callSid} \\(machine_end_beep\\)`)),
            "A to hear the machine",
          );
          const ended = await within(a.waitForEvent("call.ended"), "the call to end on A");
          assert.equal(ended.reason, "agent_hung_up");
          assert.match(ended.detail, /answering machine \(machine_end_beep\)/);
          assert.equal(b.logs.some((l) => /Answering machine on/.test(l.line)), false, "B runs no such call");
        });
      });

      await t.step(
        "Twilio's answering-machine callback reaching B starts the voicemail on A; B's <Connect action> hangs up",
        async () => {
          const vic = 'export default { voice: "coral", instructions: "You are Vic.", ' +
            'voicemail: (call) => "Tell " + (call.parameters.lead ?? "them") + " that Vic called." };\n';
          await withPersonaDir({ "vic.ts": vic }, async (dir) => {
            const env = { DEFAULT_PERSONA: "vic", INBOUND_PERSONA: "vic" };
            await withPair(server, env, async ({ a, b, storeA, storeB }) => {
              const call = await a.startCall({ persona: "vic", lead: "Dana" });
              const session = await within(a.upstream.session(0), "A's upstream session");
              await within(a.waitForEvent("call.started"), "the call to start on A");
              const status = await b.postTwilio("/api/twilio/status", {
                CallSid: call.callSid,
                AnsweredBy: "machine_end_beep",
              });
              assert.equal(status.status, 204);
              // A, told over the control channel, asks its model for the persona's voicemail.
              const note = await within(
                session.waitFor("conversation.item.create", (e) => e.item?.role === "user"),
                "the voicemail instruction on A's session",
              );
              assert.match(
                note.item.content[0].text,
                /Leave this voicemail now.*Tell Dana that Vic called\./,
              );
              await within(session.waitFor("response.create"), "the voicemail asked for on A");
              await session.streamResponse({
                responseId: "resp_vm",
                itemId: "item_vm",
                audio: toneBytes(500, 0x55),
              });
              await within(call.closed, "A to hang up once the voicemail was heard", 5_000);
              assert.ok(call.heardMsOf(0x55) >= 499, "Twilio played the whole voicemail");
              const ended = await within(a.waitForEvent("call.ended"), "the call to end on A");
              assert.equal(ended.reason, "voicemail_left");
              assert.match(ended.detail, /voicemail left \(machine_end_beep\)/);
              // Twilio asks B what comes after <Connect>: the decision A stored, not the fallback.
              const after = await b.postTwilio(`${AFTER_STREAM_PATH}?persona=vic`, { CallSid: call.callSid });
              const afterText = await after.text();
              if (!/<Hangup\s*\/>/.test(afterText)) {
                // What B could read of the call right after: was the record there, ended, decided?
                const seen = await storeB.calls.getCall(call.callSid);
                const record = seen === undefined ? "no record" : JSON.stringify({
                  startedAt: seen.startedAt,
                  endedAt: seen.endedAt,
                  endReason: seen.endReason,
                  afterStream: seen.afterStream,
                });
                assert.fail(
                  `B hangs up after the voicemail; B answered ${after.status} ${afterText}; B now reads ${record}; ` +
                    `B logged:\n` +
                    b.logs.filter((l) => l.level !== "info" || /After stream/.test(l.line)).map((l) => l.line)
                      .join("\n") +
                    // A's own warnings, and what each store still had to write (a write that failed or waited).
                    `\nA warned:\n` + a.logs.filter((l) => l.level !== "info").map((l) => l.line).join("\n") +
                    `\nstore A ${JSON.stringify(storeA.calls.health())}, store B ${
                      JSON.stringify(storeB.calls.health())
                    }`,
                );
              }
              await storeA.calls.flush();
              assert.equal((await storeA.calls.getCall(call.callSid))?.endReason, "voicemail_left");
              assert.equal(b.upstream.sessions.length, 0, "B opened no session: the call runs on A");
              assert.equal(
                b.logs.some((l) => /Answering machine on/.test(l.line)),
                false,
                "B runs no such call",
              );
            }, dir);
          });
        },
      );

      await t.step(
        "/metrics on B: its own figures, plus the cluster's live calls and instances",
        async () => {
          await withPair(server, {}, async ({ a, b, storeA }) => {
            const call = await a.startCall();
            await within(a.waitForEvent("call.started"), "the call to start on A");
            await storeA.calls.flush();
            const scrape = async (t: TestParley) =>
              await (await fetch(`${t.origin}/metrics`, {
                headers: { authorization: `Bearer ${API_TOKEN}` },
              }))
                .text();
            const text = await scrape(b);
            assert.match(text, /^parley_active_calls 0$/m, "B relays none");
            assert.match(text, /^parley_cluster_live_calls 1$/m, "A's call counts for the cluster");
            assert.match(text, /^parley_cluster_instances 2$/m);
            assert.match(text, /^parley_instance_info\{instance="beta"\} 1$/m);
            assert.match(await scrape(a), /^parley_active_calls 1$/m);
            call.stop();
            await within(a.waitForEvent("call.ended"), "the call to end on A");
            await storeA.calls.flush();
            assert.match(await scrape(b), /^parley_cluster_live_calls 0$/m);
          });
        },
      );

      await t.step(
        "a stream landing on B: B opens its own session, A closes its unused pre-warm at once",
        async () => {
          await withPair(server, {}, async ({ a, b }) => {
            const callSid = `CA${crypto.randomUUID().replaceAll("-", "")}`;
            const streamUrl = await a.answerWebhook(callSid);
            const prewarm = await within(a.upstream.session(0), "A's pre-warm to connect");
            const call = await b.connectStream(streamUrl, callSid);
            call.start();
            await within(b.waitForEvent("call.started"), "the call to start on B");
            await within(
              a.waitForLog(
                new RegExp(
                  `Pre-warmed session for CallSid=${callSid} closed: its stream started on another instance`,
                ),
              ),
              "A to close its pre-warm",
            );
            await within(prewarm.closed, "the pre-warm's upstream socket to close");
            assert.equal(a.upstream.sessions.length, 1, "A opened no other session");
            assert.equal(b.upstream.sessions.length, 1, "B opened its own");
            // A answered the call but does not run it: draining A waits for nothing (not the 60 s window).
            await within(a.parley.drain(), "A's drain to end: the call it answered runs on B", 5_000);
            call.stop();
            await within(b.waitForEvent("call.ended"), "the call to end on B");
          });
        },
      );

      await t.step(
        "a page sign-in on A works on B, and signing out on B ends it on A (issue 19 §5)",
        async () => {
          await withPair(server, {}, async ({ a, b }) => {
            const login = await fetch(`${a.origin}/login`, {
              method: "POST",
              headers: { origin: a.origin, "content-type": "application/x-www-form-urlencoded" },
              body: `next=%2Fcalling&token=${API_TOKEN}`,
              redirect: "manual",
            });
            await login.body?.cancel();
            assert.equal(login.status, 303);
            const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
            const calls = (t: TestParley) => fetch(`${t.origin}/api/calls`, { headers: { cookie } });
            for (const instance of [a, b]) {
              const response = await calls(instance);
              await response.body?.cancel();
              assert.equal(response.status, 200, `the session from A holds on ${instance === a ? "A" : "B"}`);
            }
            const logout = await fetch(`${b.origin}/logout`, {
              method: "POST",
              headers: { cookie, origin: b.origin },
              redirect: "manual",
            });
            await logout.body?.cancel();
            assert.equal(logout.status, 303);
            for (const instance of [a, b]) {
              const response = await calls(instance);
              await response.body?.cancel();
              assert.equal(response.status, 401, `signed out on ${instance === a ? "A" : "B"} too`);
            }
          });
        },
      );
    } finally {
      await server.stop();
    }
  },
});
