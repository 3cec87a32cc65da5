/**
 * The body-limit middleware: a route's `bodyLimit` applied before its guard and handler run.
 *
 * A declared `Content-Length` over the limit is refused with 413 at once and the body cancelled,
 * unread. A body without one (chunked) is passed on through a counter that errors with
 * {@linkcode BodyTooLargeError} once the limit is passed, so no reader ever holds more than the limit.
 *
 * @module
 */

import { jsonError } from "../../http/responses.ts";
import { BodyTooLargeError } from "../../http/body.ts";

export { BodyTooLargeError };

/**
 * Applies `maxBytes` to `request`: the 413 to answer, or the request to go on with (the same one
 * when its declared length is within the limit, else one whose body stops at the limit).
 *
 * @example
 * ```ts
 * const limited = await limitBody(request, 16 * 1024);
 * if (limited instanceof Response) return limited;
 * ```
 */
export async function limitBody(request: Request, maxBytes: number): Promise<Request | Response> {
  if (request.body === null) return request;
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    // Deno's server holds the body to its declared length: within the limit, nothing more to count.
    if (Number(declared) <= maxBytes) return request;
    await request.body.cancel().catch(() => {});
    return jsonError(413, new BodyTooLargeError(maxBytes).message);
  }
  let size = 0;
  const capped = request.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        size += chunk.byteLength;
        if (size > maxBytes) throw new BodyTooLargeError(maxBytes);
        controller.enqueue(chunk);
      },
    }),
  );
  return new Request(request, { body: capped });
}
