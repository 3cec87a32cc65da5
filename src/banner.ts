/**
 * The startup banner: where Parley listens and the exact URLs to paste into Twilio, in the seed's
 * `✅` style, plus loud warnings for settings that leave calls open or refused.
 *
 * @module
 */

import type { ServerConfig } from "./server.ts";
import { MEDIA_STREAM_PATH, STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH } from "./paths.ts";

/** What the banner reports. */
export interface BannerInfo {
  config: ServerConfig;
  /** The port actually bound (differs from config.port when that is 0). */
  port: number;
  /** Where the public URL came from. */
  publicUrlSource: "PUBLIC_BASE_URL" | "ngrok";
  personaIds: string[];
  databasePath: string;
  watchingPersonas: boolean;
}

/** The banner's lines. */
export function startupBanner(info: BannerInfo): string[] {
  const { config } = info;
  const base = config.publicBaseUrl;
  const host = new URL(base).host;
  const personas = info.personaIds.map((id) => id === config.defaultPersona ? `${id} (default)` : id).join(
    ", ",
  );
  const lines = [
    `✅ Parley listening on http://localhost:${info.port}`,
    `✅ Public URL: ${base}${info.publicUrlSource === "ngrok" ? " (found from the local ngrok agent)" : ""}`,
    `✅ Voice webhook, paste into Twilio (Phone Numbers → your number → A call comes in → Webhook, HTTP POST):`,
    `     ${base}${VOICE_WEBHOOK_PATH}`,
    `✅ Realtime Voice WebSocket server attached at ${MEDIA_STREAM_PATH} (wss://${host}${MEDIA_STREAM_PATH})`,
    `✅ Status callback: ${base}${STATUS_CALLBACK_PATH}`,
    `✅ OpenAI Realtime: ${config.realtimeUrl} (model ${config.realtimeModel})`,
    `✅ Personas from ${config.personasDir}: ${personas}${
      info.watchingPersonas ? " (reloaded on change)" : ""
    }`,
    `✅ Call records: ${info.databasePath}`,
  ];
  if (!config.twilioSignatureCheck) {
    lines.push(
      "⚠️  TWILIO_SIGNATURE_CHECK=off: ANYONE who finds this URL can open OpenAI sessions on your bill.",
      "⚠️  Use this for local experiments only, and turn it back on before exposing the server.",
    );
  } else if (config.twilioAuthToken === undefined) {
    lines.push(
      "⚠️  TWILIO_AUTH_TOKEN is not set: every Twilio request will be refused (403). Set it in .env.",
    );
  }
  if (config.apiToken === undefined) {
    lines.push("ℹ️  API_TOKEN is not set: /api/calls and call records answer 503 until you set one.");
  }
  return lines;
}
