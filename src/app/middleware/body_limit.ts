/**
 * The body-limit middleware: a route's `bodyLimit` applied before its guard and handler run.
 *
 * A declared `Content-Length` over the limit is refused with 413 at once and the body cancelled,
 * unread. A body without one (chunked) is passed on through a counter that errors with
 * {@linkcode BodyTooLargeError} once the limit is passed, so no reader ever holds more than the limit;
 * it is read 4 KiB at a time (`bodyChunks`), so a slow one holds little while it comes.
 *
 * @module
 */

import { jsonError } from "../../http/responses.ts";
import { bodyChunks, BodyTooLargeError } from "../../http/body.ts";

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
  // Read in small pieces (`bodyChunks`): a chunked body that is slow to come holds little meanwhile.
  const source = request.body;
  const chunks = bodyChunks(source);
  let size = 0;
  const capped = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) return controller.close();
      size += next.value.byteLength;
      if (size <= maxBytes) return controller.enqueue(next.value);
      await chunks.return();
      controller.error(new BodyTooLargeError(maxBytes));
    },
    async cancel() {
      await chunks.return();
      // Never read (a guard refused the request): cancel the source itself. Once read, `return`
      // cancelled it and this finds it done.
      await source.cancel().catch(() => {});
    },
  }, { highWaterMark: 0 });
  return new Request(request, { body: capped });
}
