/**
 * The README's "First call in five minutes" shows exactly what the banner and `setup-number` print:
 * a newcomer compares their terminal with it line by line.
 */

import assert from "node:assert/strict";
import { startupBanner } from "../src/banner.ts";
import { loadConfig } from "../src/config.ts";
import { setupNumber } from "../src/twilio/setup_number.ts";
import { startFakeTwilioRest } from "../testing/fake_twilio_rest.ts";
import { README } from "../testing/readme.ts";

const NGROK_URL = "https://abc123.ngrok-free.app";

/** The fenced blocks of the README's "First call in five minutes" section, without their indent. */
function firstCallBlocks(): string[] {
  const section = README.split("## First call in five minutes")[1]?.split("\n## ")[0];
  assert.ok(section !== undefined, "the README has the section");
  return [...section.matchAll(/^( *)```\n([\s\S]*?)\n\1```$/gm)].map(([, indent, body]) =>
    body!.split("\n").map((line) => line.slice(indent!.length)).join("\n")
  );
}

Deno.test("README's first-call section shows the banner `deno task dev` prints with the defaults", () => {
  const config = loadConfig({
    OPENAI_API_KEY: "sk-readme-0123456789",
    TWILIO_AUTH_TOKEN: "readme-auth-token-0123",
    API_TOKEN: "readme-api-token-0123456789",
  });
  const banner = startupBanner({
    config: { ...config, publicBaseUrl: NGROK_URL },
    port: config.port,
    publicUrlSource: "ngrok",
    personaIds: ["alex", "alex_live", "receptionist"],
    databasePath: "./data/parley.db",
    watchingPersonas: true,
  });
  assert.equal(firstCallBlocks()[0], banner.join("\n"));
});

Deno.test("README's first-call section shows what `deno task setup-number` prints", async () => {
  const accountSid = "AC" + "0123456789abcdef".repeat(2);
  const authToken = "readme-twilio-token-0123456789";
  await using twilio = startFakeTwilioRest({
    accountSid,
    authToken,
    numbers: [{
      sid: "PN" + "a".repeat(32),
      phoneNumber: "+14155550100",
      voiceUrl: "https://demo.twilio.com/welcome/voice/",
      voiceMethod: "GET",
    }],
  });
  await using agent = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
    Response.json({
      tunnels: [{ public_url: NGROK_URL, proto: "https", config: { addr: "http://localhost:4000" } }],
    }));
  const printed: string[] = [];
  await setupNumber({
    config: {
      twilioAccountSid: accountSid,
      twilioAuthToken: authToken,
      twilioPhoneNumber: "+14155550100",
      twilioApiBaseUrl: twilio.baseUrl,
      publicBaseUrl: undefined,
      ngrokApiUrl: `http://127.0.0.1:${agent.addr.port}`,
      port: 4000,
      inboundPersona: loadConfig({ OPENAI_API_KEY: "sk-readme-0123456789" }).inboundPersona,
    },
    print: (line) => printed.push(line),
  });
  assert.equal(firstCallBlocks()[1], printed.join("\n"));
});
