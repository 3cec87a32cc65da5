/**
 * A router over some rows of Parley's route table (`src/app/routes.ts`): the rows whose handlers a
 * test gives, with their real guards and body limits, so a handler's test goes through the same
 * middleware as the server's routes.
 *
 * @module
 */

import { type HandlerName, ROUTES } from "../src/app/routes.ts";
import { createRouter, type RouteHandler } from "../src/app/router.ts";
import { jsonError } from "../src/http/responses.ts";
import { createSessions } from "../src/http/session.ts";
import { createLogger, type Logger } from "../src/log.ts";

/** What the guards of the subset check against. */
export interface RouteSubsetOptions {
  /** API_TOKEN. */
  apiToken?: string | undefined;
  /** METRICS_PUBLIC. @default false */
  metricsPublic?: boolean;
  /** PUBLIC_BASE_URL; unset, sessions take `http://localhost` and Twilio signatures are refused. */
  publicBaseUrl?: string | undefined;
  /** TWILIO_AUTH_TOKEN (checked when `twilioSignatureCheck` is on). */
  twilioAuthToken?: string | undefined;
  /** TWILIO_SIGNATURE_CHECK. @default true */
  twilioSignatureCheck?: boolean;
  /** Where guards log. @default nowhere */
  log?: Logger;
}

/**
 * The request handler for the rows of `handlers`; any other path answers 404.
 *
 * @example
 * ```ts
 * const route = routeSubset({ placeCall: createPlaceCallHandler(…) }, { apiToken: "t" });
 * const response = await route(new Request("http://localhost/api/calls", { method: "POST" }));
 * ```
 */
export function routeSubset(
  handlers: Partial<Record<HandlerName, RouteHandler>>,
  options: RouteSubsetOptions = {},
): (request: Request) => Promise<Response> {
  const publicBaseUrl = options.publicBaseUrl;
  return createRouter({
    rows: ROUTES.filter((row) => handlers[row.handler] !== undefined),
    handlers: handlers as Record<HandlerName, RouteHandler>,
    guards: {
      sessions: createSessions({
        apiToken: () => options.apiToken,
        publicBaseUrl: publicBaseUrl ?? "http://localhost",
      }),
      apiToken: () => options.apiToken,
      metricsPublic: options.metricsPublic ?? false,
      twilio: {
        authToken: options.twilioAuthToken,
        publicBaseUrl,
        enabled: options.twilioSignatureCheck ?? true,
      },
      log: options.log ?? createLogger({ sink: () => {} }),
    },
    notFound: async (request) => {
      await request.body?.cancel();
      return jsonError(404, `No route for ${request.method} ${new URL(request.url).pathname}`);
    },
  });
}
