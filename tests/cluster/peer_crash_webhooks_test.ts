/**
 * Two real processes on one Postgres: `web-1` is SIGKILLed mid-call, and `web-2`, which closes the
 * call for it (`server_crashed`, by the heartbeat sweep), also sends its `call.ended` webhook and
 * queues its analysis, as a restart of `web-1` itself would have. Before, the sweep's calls ended
 * with no webhook and no outcome (and with the default `INSTANCE_ID`, which changes each start,
 * nothing ever sent them).
 *
 * @module
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer, toneBytes } from "../../testing/fake_realtime.ts";
import { FakeResponsesServer } from "../../testing/fake_responses.ts";
import {
  listeningPort,
  type ParleyProcess,
  placeTwilioCall,
  PROCESS_TARGET,
  processEnv,
  reap,
  spawnParley,
} from "../../testing/parley_process.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { PERSONAS } from "../analysis/_analysis_rig.ts";
import { SECRET } from "../webhooks/_call.ts";

const OPENAI_KEY = "sk-peer-crash-key-0123456789";

Deno.test({
  name: "a peer that closes a crashed instance's call sends its call.ended and queues its analysis",
  ignore: !postgresAvailable(),
  async fn() {
    const pg = await startThrowawayPostgres();
    const upstream = FakeRealtimeServer.start();
    const outcome = { interested: false, meetingDay: null, objections: ["cut off"] };
    const responses = FakeResponsesServer.start(OPENAI_KEY, () => outcome);
    const receiver = await startWebhookReceiver(SECRET);
    const dataDirs: string[] = [];
    const started: ParleyProcess[] = [];
    try {
      const databaseUrl = await pg.createDatabase();
      await withPersonaDir(PERSONAS, async (personasDir) => {
        const start = async (instance: string) => {
          const dataDir = await Deno.makeTempDir({ prefix: "parley_peer_crash_" });
          dataDirs.push(dataDir);
          const parley = await spawnParley(
            "start",
            processEnv({
              upstreamUrl: upstream.url,
              dataDir,
              personasDir,
              defaultPersona: "lead",
              inboundPersona: "lead",
            }, {
              OPENAI_API_KEY: OPENAI_KEY,
              OPENAI_BASE_URL: responses.baseUrl,
              DATABASE_URL: databaseUrl,
              INSTANCE_ID: instance,
              INSTANCE_TIMEOUT_S: "1",
              WEBHOOK_URL: receiver.url,
              WEBHOOK_SECRET: SECRET,
            }),
          );
          started.push(parley);
          return { parley, port: await listeningPort(parley) };
        };
        const crashing = await start("web-1");
        const peer = await start("web-2");

        const call = await placeTwilioCall({ port: crashing.port, ...PROCESS_TARGET }, { persona: "lead" });
        call.start({ persona: "lead" });
        const session = await upstream.session(0);
        await session.waitFor("response.create");
        await session.streamResponse({
          responseId: "r1",
          itemId: "i1",
          audio: toneBytes(100, 7),
          transcript: "Hi, this is Alex.",
        });
        await call.waitFor("media");
        await within(
          receiver.waitFor((r) => r.some((w) => w.body.type === "call.started")),
          "call.started",
        );
        crashing.parley.child.kill("SIGKILL");
        await crashing.parley.child.status;
        await call.closed;

        await within(
          peer.parley.stderr.waitFor(/Instance web-1 stopped beating: closed its 1 open call/),
          "web-2 closing web-1's call",
          10_000,
        );
        await within(
          receiver.waitFor((r) =>
            r.some((w) => w.body.type === "call.ended") && r.some((w) => w.body.type === "call.analyzed")
          ),
          "call.ended and call.analyzed from web-2",
          10_000,
        );
        assert.deepEqual(receiver.rejected, []);
        const ended = receiver.received.filter((w) => w.body.type === "call.ended");
        assert.equal(ended.length, 1, "one call.ended");
        assert.equal(ended[0]!.id, `msg_call_ended_${call.callSid}`);
        assert.equal(ended[0]!.body.data.endReason, "server_crashed");
        assert.equal(ended[0]!.body.data.persona, "lead");
        const analyzed = receiver.received.find((w) => w.body.type === "call.analyzed")!;
        assert.deepEqual(analyzed.body.data.outcome, outcome);
        assert.equal(responses.requests.length, 1, "one analysis");
        peer.parley.child.kill("SIGTERM");
        assert.equal((await peer.parley.child.status).code, 0);
      });
    } finally {
      for (const parley of started) await reap(parley);
      await receiver.close();
      await responses.close();
      await upstream.close();
      await pg.stop();
      for (const dir of dataDirs) await Deno.remove(dir, { recursive: true });
    }
  },
});
