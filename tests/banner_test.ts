/**
 * The startup banner: the exact URLs to paste into Twilio, and loud warnings for unsafe settings.
 */

import assert from "node:assert/strict";
import { startupBanner } from "../src/banner.ts";
import { loadConfig } from "../src/config.ts";

function banner(env: Record<string, string>) {
  const config = loadConfig({
    OPENAI_API_KEY: "sk-test-0123456789",
    PUBLIC_BASE_URL: "https://abc.ngrok-free.app/",
    ...env,
  });
  return startupBanner({
    config: { ...config, publicBaseUrl: config.publicBaseUrl! },
    port: 4000,
    publicUrlSource: "PUBLIC_BASE_URL",
    personaIds: ["alex", "receptionist"],
    databasePath: "./data/parley.db",
    watchingPersonas: true,
  });
}

Deno.test("banner gives the webhook and socket URLs to paste into Twilio", () => {
  const lines = banner({ TWILIO_AUTH_TOKEN: "token-0123456789", API_TOKEN: "api-token-0123456789" });
  assert.ok(lines.includes("✅ Parley listening on http://localhost:4000"));
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
