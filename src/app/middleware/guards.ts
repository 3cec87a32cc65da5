/**
 * The guards of the route table (`../routes.ts`): each decides, before the handler runs, whether a
 * request may go on, and answers why not. The `twilio` guard also reads the form it checks the
 * signature over, and hands it to the handler, so the body is read once.
 *
 * @module
 */

import { crossSiteFormPage } from "../../api/sign_in.ts";
import { checkBearer } from "../../http/auth.ts";
import { jsonError } from "../../http/responses.ts";
import type { Sessions } from "../../http/session.ts";
import type { Logger } from "../../log.ts";
import { checkTwilio, type TwilioSignatureSettings } from "./twilio_guard.ts";
import { createRecordingLinks, type RecordingLinks } from "../../recordings/recording_link.ts";
import type { BodyLimit, Guard } from "../routes.ts";

/** What the guards check against. */
export interface GuardOptions {
  sessions: Pick<Sessions, "authorize" | "has" | "sameOrigin">;
  /** API_TOKEN, read on each request. */
  apiToken: () => string | undefined;
  /** METRICS_PUBLIC: `/metrics` needs no token. */
  metricsPublic: boolean;
  /** TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL and TWILIO_SIGNATURE_CHECK. */
  twilio: TwilioSignatureSettings;
  log: Logger;
  /** Checks the signed links of `recording.ready` (keyed by WEBHOOK_SECRET). @default none honoured */
  recordingLinks?: Pick<RecordingLinks, "check">;
}

const NO_LINKS = createRecordingLinks(undefined);

/** A guard's verdict: the answer that refuses, or the Twilio form (empty unless read) to go on with. */
export type GuardVerdict = Response | { form: Record<string, string> };

const NO_FORM: GuardVerdict = Object.freeze({ form: {} });

/**
 * Runs `guard` on `request` (whose body is already within `bodyLimit`).
 *
 * @example
 * ```ts
 * const verdict = await applyGuard("bearerOrSession", request, "none", options);
 * if (verdict instanceof Response) return verdict;
 * ```
 */
export async function applyGuard(
  guard: Guard,
  request: Request,
  bodyLimit: BodyLimit,
  options: GuardOptions,
): Promise<GuardVerdict> {
  switch (guard) {
    case "none":
      return NO_FORM;
    case "twilio":
      return await checkTwilio(request, bodyLimit, options.twilio, options.log);
    case "bearerOrSession":
      return (await options.sessions.authorize(request)) ?? NO_FORM;
    case "signedLinkOrBearer": {
      // A link from a recording.ready webhook stands for the token; without one, as bearerOrSession.
      const verdict = (options.recordingLinks ?? NO_LINKS).check(new URL(request.url));
      if (verdict.kind === "valid") return NO_FORM;
      if (verdict.kind === "refused") return jsonError(403, verdict.reason);
      return (await options.sessions.authorize(request)) ?? NO_FORM;
    }
    case "sessionSameOrigin": {
      // A WebSocket handshake is never blocked by the browser's same-origin policy: Origin is checked here.
      const { pathname } = new URL(request.url);
      if (!(await options.sessions.has(request))) {
        return jsonError(401, `Sign in first: ${pathname} needs a session`);
      }
      if (!options.sessions.sameOrigin(request)) {
        return jsonError(403, `Cross-origin request to ${pathname} refused: its Origin is not this server's`);
      }
      return NO_FORM;
    }
    case "sameOrigin": {
      // Sign-in and sign-out forms: a browser shows the answer, so it is the sign-in page saying why.
      if (options.sessions.sameOrigin(request)) return NO_FORM;
      const token = options.apiToken();
      return crossSiteFormPage(token !== undefined && token !== "");
    }
    case "signedInPage": {
      if (await options.sessions.has(request)) return NO_FORM;
      const { pathname, search } = new URL(request.url);
      return new Response(null, {
        status: 303,
        headers: {
          location: `/login?next=${encodeURIComponent(pathname + search)}`,
          "cache-control": "no-store",
        },
      });
    }
    case "bearerUnlessPublic":
      return refuseUnlessPublic(request, options) ?? NO_FORM;
  }
}

/** `/metrics`: open with METRICS_PUBLIC=on, else the bearer token (answers in Prometheus' plain text). */
function refuseUnlessPublic(request: Request, options: GuardOptions): Response | undefined {
  if (options.metricsPublic) return undefined;
  const token = options.apiToken();
  if (token === undefined || token === "") {
    return text(
      503,
      "Metrics are off: set API_TOKEN (scrape with it as a bearer token) or METRICS_PUBLIC=on\n",
    );
  }
  if (checkBearer(request, token)) return undefined;
  return text(401, "Missing or wrong bearer token: send Authorization: Bearer <API_TOKEN>\n", {
    "www-authenticate": 'Bearer realm="parley"',
  });
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}
