/**
 * The startup banner: where Parley listens and the exact URLs to paste into Twilio, in the seed's
 * `✅` style, plus loud warnings for settings that leave calls open or refused.
 *
 * @module
 */

import type { ServerConfig } from "./app/server.ts";
import { ENGINE_REGISTRY } from "./engines/registry.ts";
import { MEDIA_STREAM_PATH, STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH } from "./paths.ts";
import type { InboundPersonaSource, PublicUrlSource } from "./startup.ts";

/** What the banner reports. */
export interface BannerInfo {
  config: ServerConfig;
  /** The port actually bound (differs from config.port when that is 0). */
  port: number;
  /** Where the public URL came from; `none` is browser-only mode. */
  publicUrlSource: PublicUrlSource;
  /** What chose the inbound persona. @default "INBOUND_PERSONA" */
  inboundPersonaSource?: InboundPersonaSource;
  personaIds: string[];
  databasePath: string;
  watchingPersonas: boolean;
}

/**
 * Where to open Parley from this machine, and what HOST means: `0.0.0.0`/`::` listen on every
 * interface (opened as localhost), a specific address only there.
 */
export function listenAddress(host: string, port: number): { url: string; note: string } {
  if (host === "0.0.0.0" || host === "::") {
    return {
      url: `http://localhost:${port}`,
      note: `HOST=${host}: every network interface; HOST=127.0.0.1 keeps it to this machine`,
    };
  }
  const local = host === "localhost" || host === "::1" || /^127\./.test(host);
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    note: `HOST=${host}: ${local ? "this machine only" : "this address only"}`,
  };
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
  const { url: local, note } = listenAddress(config.host, info.port);
  const browserOnly = info.publicUrlSource === "none";
  const lines = [`✅ Parley listening on ${local} (${note})`];
  lines.push(
    `✅ Web UI: ${local}/calling (calls, leads, personas and the softphone; sign in with API_TOKEN)`,
  );
  if (browserOnly) {
    lines.push(
      "ℹ️  Browser-only mode: no TWILIO_* variable, PUBLIC_BASE_URL or ngrok tunnel, so phone calls are off " +
        "(Twilio's requests are refused). Talk to a persona from its page: " +
        `${local}/personas/<id> → Talk.`,
      "ℹ️  For phone calls set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER, and " +
        `PUBLIC_BASE_URL (or run ngrok http ${info.port}), in .env, then start again.`,
    );
  } else {
    lines.push(
      `✅ Public URL: ${base}${
        info.publicUrlSource === "ngrok" ? " (found from the local ngrok agent)" : ""
      }`,
      `✅ Voice webhook, paste into Twilio (Phone Numbers → your number → A call comes in → Webhook, HTTP POST):`,
      `     ${base}${VOICE_WEBHOOK_PATH}`,
      `   or let Parley set it: deno task setup-number (--persona=<id> picks who answers, --dry-run only shows)`,
      `✅ Realtime Voice WebSocket server attached at ${MEDIA_STREAM_PATH} ` +
        `(wss://${host}${MEDIA_STREAM_PATH}/<token>: the voice webhook gives each call its own token)`,
      `✅ Status callback: ${base}${STATUS_CALLBACK_PATH}`,
    );
  }
  lines.push(
    defaultEngineLine(config),
    `✅ Personas from ${config.personasDir}: ${personaList(info.personaIds, config)}${
      info.watchingPersonas ? " (reloaded on change)" : ""
    }`,
  );
  if (!browserOnly) lines.push(inboundLine(config, info.inboundPersonaSource ?? "INBOUND_PERSONA"));
  lines.push(
    `✅ Calls API: POST ${local}/api/calls to place a call, GET ${local}/api/calls for records ` +
      "(Authorization: Bearer $API_TOKEN)",
    `✅ Metrics: ${local}/metrics (Prometheus${config.metricsPublic ? ", public" : "; bearer token"})`,
    `✅ Call records: ${info.databasePath}`,
  );
  if (!config.twilioSignatureCheck) {
    lines.push(
      "⚠️  TWILIO_SIGNATURE_CHECK=off: ANYONE who finds this URL can open OpenAI sessions on your bill.",
      "⚠️  Use this for local experiments only, and turn it back on before exposing the server.",
    );
  } else if (config.twilioAuthToken === undefined && !browserOnly) {
    lines.push(
      "⚠️  TWILIO_AUTH_TOKEN is not set: every Twilio request will be refused (403). Set it in .env.",
    );
  }
  if (config.apiToken === undefined) {
    lines.push(
      "ℹ️  API_TOKEN is not set: the pages' sign-in, /api/calls and call records answer 503 until you set one.",
    );
  }
  return lines;
}

/**
 * The engine personas without a `model` run on: OPENAI_REALTIME_MODEL's (as a call chooses it), at
 * its endpoint, e.g. `✅ OpenAI GPT-Live: wss://… (model gpt-live-1.1)`.
 */
function defaultEngineLine(config: ServerConfig): string {
  const engine = ENGINE_REGISTRY.findForModel(config.realtimeModel) ?? ENGINE_REGISTRY.definitions[0]!;
  const url = config.engineEndpoints[engine.id] ?? engine.endpoint.defaultUrl;
  return `✅ OpenAI ${engine.name}: ${url} (model ${config.realtimeModel})`;
}

/** Who answers inbound calls, and which setting says so. */
function inboundLine(config: ServerConfig, source: InboundPersonaSource): string {
  const outbound = `outbound calls that name no persona: ${config.defaultPersona} (DEFAULT_PERSONA)`;
  if (source === "DEFAULT_PERSONA") {
    return `✅ Inbound calls: ${config.defaultPersona} (DEFAULT_PERSONA: INBOUND_PERSONA is not set and there ` +
      `is no receptionist persona); ${outbound}`;
  }
  return `✅ Inbound calls: ${config.inboundPersona} (INBOUND_PERSONA); ${outbound}`;
}
