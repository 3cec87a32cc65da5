/**
 * The outermost middleware of the route table: an error no handler caught is logged (stack and all,
 * a stream URL's token shortened) and answered 500, so one bad request never takes the server down;
 * a body cut off at its route's limit that reached a handler unread is 413.
 *
 * @module
 */

import { BodyTooLargeError } from "../../http/body.ts";
import { jsonError } from "../../http/responses.ts";
import type { Logger } from "../../log.ts";
import { redactStreamPath } from "../../twilio/stream_token.ts";

/**
 * Wraps `route`: an error it throws becomes a logged 500.
 *
 * @example
 * ```ts
 * Deno.serve(catchUnhandled(route, log));
 * ```
 */
export function catchUnhandled(
  route: (request: Request) => Promise<Response>,
  log: Logger,
): (request: Request) => Promise<Response> {
  return async (request) => {
    try {
      return await route(request);
    } catch (error) {
      // A handler that read past its route's body limit (the limit cut the body off).
      if (error instanceof BodyTooLargeError) return jsonError(413, error.message);
      const text = `Unhandled error on ${request.method} ${
        redactStreamPath(new URL(request.url).pathname)
      }: ${(error as Error).stack}`;
      for (const line of text.split("\n")) log.error(line); // the logger escapes line breaks
      return jsonError(500, "Internal server error");
    }
  };
}
