/**
 * The startup banner: where Parley listens and the exact URLs to paste into Twilio, in the seed's
 * `✅` style, plus loud warnings for settings that leave calls open or refused.
 *
 * @module
 */

import type { ServerConfig } from "./app/server.ts";
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

/** Each persona id, marked with the calls it answers by default. */
function personaList(ids: string[], config: ServerConfig): string {
  return ids.map((id) => {
    const roles = [
      ...(id === config.inboundPersona ? ["inbound"] : []),
      ...(id === config.defaultPersona ? ["outbound"] : []),
    ];
    return roles.length === 0 ? id : `${id} (${roles.join(", ")})`;
  }).join(", ");
}

/** The banner's lines. */
export function startupBanner(info: BannerInfo): string[] {
  const { config } = info;
  const base = config.publicBaseUrl;
  const host = new URL(base).host;
  const local = `http://localhost:${info.port}`;
  const lines = [
    `✅ Parley listening on ${local}`,
    `✅ Public URL: ${base}${info.publicUrlSource === "ngrok" ? " (found from the local ngrok agent)" : ""}`,
    `✅ Voice webhook, paste into Twilio (Phone Numbers → your number → A call comes in → Webhook, HTTP POST):`,
    `     ${base}${VOICE_WEBHOOK_PATH}`,
    `   or let Parley set it: deno task setup-number (--persona=<id> picks who answers, --dry-run only shows)`,
    `✅ Realtime Voice WebSocket server attached at ${MEDIA_STREAM_PATH} ` +
    `(wss://${host}${MEDIA_STREAM_PATH}/<token>: the voice webhook gives each call its own token)`,
    `✅ Status callback: ${base}${STATUS_CALLBACK_PATH}`,
    `✅ OpenAI Realtime: ${config.realtimeUrl} (model ${config.realtimeModel})`,
    `✅ Personas from ${config.personasDir}: ${personaList(info.personaIds, config)}${
      info.watchingPersonas ? " (reloaded on change)" : ""
    }`,
    `✅ Inbound calls: ${config.inboundPersona} (INBOUND_PERSONA); outbound calls that name no persona: ` +
    `${config.defaultPersona} (DEFAULT_PERSONA)`,
    `✅ Calls API: POST ${local}/api/calls to place a call, GET ${local}/api/calls for records ` +
    "(Authorization: Bearer $API_TOKEN)",
    `✅ Metrics: ${local}/metrics (Prometheus${config.metricsPublic ? ", public" : "; bearer token"})`,
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
