/**
 * The startup banner: the exact URLs to paste into Twilio, and loud warnings for unsafe settings.
 */

import assert from "node:assert/strict";
import { type BannerInfo, startupBanner } from "../src/banner.ts";
import { loadConfig } from "../src/config.ts";

function banner(env: Record<string, string>, info: Partial<BannerInfo> = {}) {
  const config = loadConfig({
    OPENAI_API_KEY: "sk-test-0123456789",
    PUBLIC_BASE_URL: "https://abc.ngrok-free.app/",
    ...env,
  });
  return startupBanner({
    config: { ...config, publicBaseUrl: config.publicBaseUrl ?? "http://localhost:4000" },
    port: 4000,
    publicUrlSource: "PUBLIC_BASE_URL",
    personaIds: ["alex", "receptionist"],
    databasePath: "./data/parley.db",
    watchingPersonas: true,
    ...info,
  });
}

Deno.test("banner gives the webhook and socket URLs to paste into Twilio", () => {
  const lines = banner({ TWILIO_AUTH_TOKEN: "token-0123456789", API_TOKEN: "api-token-0123456789" });
  assert.ok(lines.some((l) => l.startsWith("✅ Parley listening on http://localhost:4000 ")));
  assert.ok(lines.includes("     https://abc.ngrok-free.app/api/twilio/voice-realtime"));
  assert.ok(lines.some((l) => l.includes("wss://abc.ngrok-free.app/twilio-realtime-voice")));
  assert.ok(lines.some((l) => l.endsWith(": alex (outbound), receptionist (inbound) (reloaded on change)")));
  assert.ok(lines.includes(
    "✅ Inbound calls: receptionist (INBOUND_PERSONA); outbound calls that name no persona: alex (DEFAULT_PERSONA)",
  ));
  assert.ok(!lines.some((l) => l.startsWith("⚠️")), "no warning when everything is set");
});

Deno.test("banner warns loudly when signature checks are off or Twilio's token is missing", () => {
  const off = banner({ TWILIO_SIGNATURE_CHECK: "off", TWILIO_AUTH_TOKEN: "token-0123456789" });
  assert.ok(off.some((l) => l.startsWith("⚠️  TWILIO_SIGNATURE_CHECK=off: ANYONE")));
  const noToken = banner({});
  assert.ok(
    noToken.some((l) => /TWILIO_AUTH_TOKEN is not set: every Twilio request will be refused/.test(l)),
  );
  assert.ok(noToken.some((l) => /API_TOKEN is not set/.test(l)));
});

Deno.test("banner points to setup-number, the calls API and /metrics", () => {
  const lines = banner({ TWILIO_AUTH_TOKEN: "token-0123456789" });
  assert.ok(lines.some((l) => l.includes("deno task setup-number")));
  assert.ok(lines.some((l) => l.includes("POST http://localhost:4000/api/calls")));
  assert.ok(lines.some((l) => l.startsWith("✅ Metrics: http://localhost:4000/metrics")));
});

Deno.test("banner says where it really listens: HOST=0.0.0.0 is every interface, 127.0.0.1 this machine", () => {
  const every = banner({});
  assert.ok(every.includes(
    "✅ Parley listening on http://localhost:4000 (HOST=0.0.0.0: every network interface; HOST=127.0.0.1 " +
      "keeps it to this machine)",
  ));
  const local = banner({ HOST: "127.0.0.1" });
  assert.ok(
    local.includes("✅ Parley listening on http://127.0.0.1:4000 (HOST=127.0.0.1: this machine only)"),
  );
  assert.ok(local.some((l) => l.includes("POST http://127.0.0.1:4000/api/calls")));
  assert.ok(!local.some((l) => l.includes("localhost:4000")), "no localhost it does not listen on");
  const v6 = banner({ HOST: "::1" });
  assert.ok(v6[0]!.startsWith("✅ Parley listening on http://[::1]:4000 (HOST=::1: this machine only)"));
});

Deno.test("banner prints the web UI's address", () => {
  const lines = banner({ API_TOKEN: "api-token-0123456789" });
  assert.ok(lines.includes(
    "✅ Web UI: http://localhost:4000/calling (calls, leads, personas and the softphone; sign in with API_TOKEN)",
  ));
});

Deno.test("banner in browser-only mode: no Twilio lines, says phone calls are off and what to set", () => {
  const lines = banner({ PUBLIC_BASE_URL: "" }, { publicUrlSource: "none" });
  assert.ok(lines.some((l) => l.startsWith("ℹ️  Browser-only mode: no TWILIO_* variable")));
  assert.ok(lines.some((l) => l.includes("http://localhost:4000/personas/<id> → Talk")));
  assert.ok(
    lines.some((l) =>
      /For phone calls set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER/.test(l)
    ),
  );
  assert.ok(
    !lines.some((l) => /Voice webhook|Status callback|setup-number|TWILIO_AUTH_TOKEN is not set/.test(l)),
  );
  assert.ok(lines.some((l) => l.startsWith("✅ Web UI: http://localhost:4000/calling")));
});

Deno.test("banner says inbound calls go to DEFAULT_PERSONA when INBOUND_PERSONA is unset and no receptionist", () => {
  const lines = banner({ DEFAULT_PERSONA: "sam", INBOUND_PERSONA: "sam" }, {
    personaIds: ["sam"],
    inboundPersonaSource: "DEFAULT_PERSONA",
  });
  assert.ok(lines.includes(
    "✅ Inbound calls: sam (DEFAULT_PERSONA: INBOUND_PERSONA is not set and there is no receptionist persona); " +
      "outbound calls that name no persona: sam (DEFAULT_PERSONA)",
  ));
  assert.ok(lines.some((l) => l.endsWith(": sam (inbound, outbound) (reloaded on change)")));
});

Deno.test("banner names the engine OPENAI_REALTIME_MODEL runs on, at that engine's endpoint", () => {
  assert.ok(
    banner({}).includes("✅ OpenAI Realtime: wss://api.openai.com/v1/realtime (model gpt-realtime-2.1)"),
  );
  const live = banner({
    OPENAI_REALTIME_MODEL: "gpt-live-1.1",
    OPENAI_LIVE_URL: "wss://live.example/sessions",
  });
  assert.ok(
    live.includes("✅ OpenAI GPT-Live: wss://live.example/sessions (model gpt-live-1.1)"),
    live.join("\n"),
  );
  assert.ok(!live.some((l) => l.includes("OpenAI Realtime")), "personas without a model run on GPT-Live");
});
