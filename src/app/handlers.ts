/**
 * Every handler the route table (`routes.ts`) names, built from the server's parts: each route's logic
 * lives in its own module under `api/`; this file and its neighbours only connect them to the calls,
 * the store and the metrics (`call_handlers.ts` the call path, `record_handlers.ts` what the store
 * keeps, `campaign_handlers.ts` the dialer and campaigns; the parts are declared in `handler_parts.ts`).
 *
 * @module
 */

import { createAfterStreamRoutes } from "../api/after_stream.ts";
import { createSignInHandlers } from "../api/sign_in.ts";
import { createPagesHandlers } from "../api/pages.ts";
import { createPersonasHandlers } from "../api/personas_route.ts";
import { createRehearseHandler } from "../api/rehearse_route.ts";
import { engineForModel } from "../engines/voices.ts";
import { createOutboundCalls } from "../calls/place_call.ts";
import type { Dialer } from "../dialer/dialer.ts";
import type { HandlerName } from "./routes.ts";
import type { RouteHandler } from "./router.ts";
import type { HandlerParts } from "./handler_parts.ts";
import {
  type CallPathShared,
  createCallControlHandlers,
  createOperatorHandlers,
  createTwilioHandlers,
} from "./call_handlers.ts";
import { createRecordHandlers } from "./record_handlers.ts";
import { createCampaignHandlers, createDialer } from "./campaign_handlers.ts";

export type { DialerParts, HandlerParts } from "./handler_parts.ts";

/** The handlers, and what to end on shutdown. */
export interface RouteHandlers {
  handlers: Record<HandlerName, RouteHandler>;
  /** The campaign dialer, when campaigns are kept (not started: the server starts it). */
  dialer: Dialer | undefined;
  /** Ends the hub subscriptions the handlers hold. */
  close(): void;
}

/**
 * Builds every handler of the route table.
 *
 * @example
 * ```ts
 * const routes = createRouteHandlers({ config, personas, hub, log, counters, metrics, … });
 * const route = createRouter({ rows: ROUTES, handlers: routes.handlers, guards, notFound });
 * ```
 */
export function createRouteHandlers(parts: HandlerParts): RouteHandlers {
  const { config, personas, hub, log } = parts;
  const shared: CallPathShared = {
    /** The engine a persona's calls run on (its voices are the ones a call may pick). */
    engineOf: (id: string) => {
      const persona = personas.get(id)?.persona;
      return persona === undefined ? undefined : engineForModel(persona.model ?? config.realtimeModel);
    },
    // One call-placing service for POST /api/calls and the dialer.
    placeOutbound: createOutboundCalls({
      config,
      hub,
      log,
      ...(parts.fetch === undefined ? {} : { fetch: parts.fetch }),
    }),
    refusals: { calls: { capacity: 0, draining: 0 }, streams: 0 },
  };
  const afterStreamRoutes = createAfterStreamRoutes({
    config,
    personas,
    hub,
    log,
    ...(parts.afterStream === undefined ? {} : { store: parts.afterStream }),
    ...(parts.afterStreamWaitMs === undefined ? {} : { pendingWaitMs: parts.afterStreamWaitMs }),
  });
  const dialer = createDialer(parts, shared.placeOutbound);

  const handlers: Record<HandlerName, RouteHandler> = {
    ...createTwilioHandlers(parts, shared),
    afterStream: afterStreamRoutes.afterStream,
    dialAction: afterStreamRoutes.dialAction,
    ...createOperatorHandlers(parts, shared.refusals, dialer),
    ...createCallControlHandlers(parts, shared),
    ...createRecordHandlers(parts),
    ...createCampaignHandlers(parts, { dialer, engineOf: shared.engineOf }),
    ...createPersonaAndPageHandlers(parts),
  };

  return {
    handlers,
    dialer,
    close() {
      dialer?.close();
      afterStreamRoutes.close();
    },
  };
}

/** Signing in, the personas (list, preview, voices, rehearse) and the pages. */
function createPersonaAndPageHandlers(
  parts: HandlerParts,
): Pick<
  Record<HandlerName, RouteHandler>,
  | "signInPage"
  | "signIn"
  | "signOut"
  | "listPersonas"
  | "getPersona"
  | "previewPersona"
  | "listVoices"
  | "rehearse"
  | "home"
  | "webFile"
  | "page"
> {
  const { config, personas, log, sessions } = parts;
  const signIn = createSignInHandlers({ sessions, apiToken: () => config.apiToken });
  const pages = createPagesHandlers();
  const personasRoutes = createPersonasHandlers({ personas, defaultModel: config.realtimeModel });
  return {
    signInPage: signIn.page,
    signIn: signIn.signIn,
    signOut: signIn.signOut,
    listPersonas: personasRoutes.listPersonas,
    getPersona: personasRoutes.getPersona,
    previewPersona: personasRoutes.previewPersona,
    listVoices: personasRoutes.listVoices,
    rehearse: createRehearseHandler({
      config,
      personas,
      prices: parts.prices,
      log,
      selfOrigin: parts.selfOrigin,
      ...(parts.scenariosDir === undefined ? {} : { scenariosDir: parts.scenariosDir }),
      connect: parts.connectUpstream,
      signal: parts.shutdownSignal,
    }),
    home: pages.home,
    webFile: pages.webFile,
    page: pages.page,
  };
}
