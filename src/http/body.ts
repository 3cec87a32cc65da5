/**
 * Size-limited request bodies for Parley's own API: a body over the limit is refused with 413 and
 * never read whole into memory; one that is not UTF-8 is refused with 400 naming the first bad byte; and a
 * body that is slow to come costs little while Parley waits.
 *
 * @module
 */

/**
 * Bytes asked of the server per read. A read waiting for a client's body holds its buffer, and
 * `Deno.serve`'s own reads (`for await`, `request.text()`) ask for 64 KiB: about 200 kB of memory per
 * connection that declares a body and sends it slowly (measured on Deno 2.9.6), so ten thousand
 * such connections to an unauthenticated route (a Twilio webhook, the sign-in form) would hold
 * 2 GB. With reads of 4 KiB into Parley's own buffer such a connection costs about 50 kB in all.
 */
export const BODY_READ_BYTES = 4096;

/**
 * The chunks of `body`, read {@linkcode BODY_READ_BYTES} at a time into buffers of Parley's own
 * when it is a byte stream (a request's body from `Deno.serve` is), else as the stream gives them.
 * Leaving the loop early cancels the body.
 *
 * @example
 * ```ts
 * for await (const chunk of bodyChunks(request.body!)) size += chunk.byteLength;
 * ```
 */
export async function* bodyChunks(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<Uint8Array, void, undefined> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream (a body Parley wrapped): its chunks are already what it enqueued.
    yield* body;
    return;
  }
  let finished = false;
  let buffer = new Uint8Array(BODY_READ_BYTES);
  try {
    for (;;) {
      const { done, value } = await reader.read(buffer);
      if (done) {
        finished = true;
        return;
      }
      // A copy of what came, and the one buffer back for the next read: a body sent a byte at a time
      // is kept as bytes, not as a 4 KiB buffer per byte.
      const chunk = value.slice();
      buffer = new Uint8Array(value.buffer);
      yield chunk;
    }
  } catch (error) {
    finished = true; // an errored stream needs no cancel
    throw error;
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** Raised by a body cut off at its route's limit (`src/app/middleware/body_limit.ts`). */
export class BodyTooLargeError extends Error {
  /** Builds the error for a limit of `maxBytes`. */
  constructor(readonly maxBytes: number) {
    super(`Request body is larger than ${maxBytes} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/** A body as read: its text, or the status and message to answer with. */
export type BodyText = { ok: true; text: string } | { ok: false; status: number; error: string };

/**
 * Bytes a body's buffer starts with (or its declared length, when smaller); it doubles as the body
 * comes, up to the limit. A body that is slow to come holds no more than twice what came.
 */
const FIRST_BUFFER_BYTES = 1024;

/**
 * Reads `request`'s body as UTF-8 text, refusing more than `maxBytes` (413) and bytes that are not
 * UTF-8 (400 naming the offset of the first one): JSON must be UTF-8 (RFC 8259), Twilio's forms are
 * ASCII, and a CSV saved in another encoding would otherwise have its names silently turned into U+FFFD.
 *
 * The body is gathered in one buffer, grown by doubling (never past its declared length, while it
 * keeps to it, nor `maxBytes`): a body sent a byte at a time holds its bytes, not an object per read.
 *
 * @example
 * ```ts
 * const body = await readBodyText(request, 64 * 1024);
 * if (!body.ok) return jsonError(body.status, body.error);
 * ```
 */
export async function readBodyText(request: Request, maxBytes: number): Promise<BodyText> {
  const tooLarge: BodyText = {
    ok: false,
    status: 413,
    error: `Request body is larger than ${maxBytes} bytes`,
  };
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await request.body?.cancel();
    return tooLarge;
  }
  // A declared length caps the buffer's growth but does not size it up front: it is a claim, not bytes,
  // and a body that is slow to come must hold only what came.
  const expected = Number.isSafeInteger(declared) && declared > 0 ? declared : maxBytes;
  let buffer = new Uint8Array(Math.min(expected, FIRST_BUFFER_BYTES));
  let size = 0;
  if (request.body !== null) {
    try {
      for await (const chunk of bodyChunks(request.body)) {
        const needed = size + chunk.byteLength;
        if (needed > maxBytes) return tooLarge; // leaving the loop cancels the body
        if (needed > buffer.byteLength) {
          const cap = needed <= expected ? expected : maxBytes;
          const grown = new Uint8Array(Math.min(cap, Math.max(needed, buffer.byteLength * 2)));
          grown.set(buffer.subarray(0, size));
          buffer = grown;
        }
        buffer.set(chunk, size);
        size = needed;
      }
    } catch (error) {
      // The route's own limit (a smaller one than this reader's) cut the body off.
      if (error instanceof BodyTooLargeError) return { ok: false, status: 413, error: error.message };
      throw error;
    }
  }
  const bytes = buffer.subarray(0, size);
  try {
    return { ok: true, text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    const at = firstInvalidUtf8(bytes);
    const byte = (bytes[at] ?? 0).toString(16).toUpperCase().padStart(2, "0");
    return {
      ok: false,
      status: 400,
      error:
        `Request body is not valid UTF-8: byte 0x${byte} at offset ${at} (counting from 0); send UTF-8 text`,
    };
  }
}

/**
 * The offset of the first byte of `bytes` that the UTF-8 decoder refuses: where the first ill-formed
 * sequence starts, which is where the decoder (WHATWG Encoding, "UTF-8 decoder") puts its first
 * U+FFFD. One pass over the bytes: a body of real U+FFFDs (EF BF BD) before a bad byte costs no more
 * than any other (re-encoding the text up to each U+FFFD, as this once did, took a second of the event
 * loop for 64 KiB and minutes for 1 MiB).
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const length = bytes.length;
  let at = 0;
  while (at < length) {
    const lead = bytes[at]!;
    if (lead < 0x80) {
      at++;
      continue;
    }
    // The continuation bytes a lead byte needs, and the range its first one must be in (no overlong
    // forms, no surrogates, nothing past U+10FFFF).
    let needed: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      needed = 1;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      needed = 2;
      if (lead === 0xe0) low = 0xa0;
      if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      needed = 3;
      if (lead === 0xf0) low = 0x90;
      if (lead === 0xf4) high = 0x8f;
    } else {
      return at; // a continuation byte with no lead, or a byte UTF-8 never uses
    }
    if (at + needed >= length) return at; // cut off by the end of the body
    const first = bytes[at + 1]!;
    if (first < low || first > high) return at;
    for (let next = at + 2; next <= at + needed; next++) {
      const byte = bytes[next]!;
      if (byte < 0x80 || byte > 0xbf) return at;
    }
    at += needed + 1;
  }
  return 0; // not reached: the fatal decoder refused these bytes
}

/** A JSON body as read: its value, or the status and message to answer with. */
export type BodyJson = { ok: true; value: unknown } | { ok: false; status: number; error: string };

/** Reads and parses a JSON body of at most `maxBytes`; an empty body is a 400 naming `example`. */
export async function readBodyJson(request: Request, maxBytes: number, example: string): Promise<BodyJson> {
  const body = await readBodyText(request, maxBytes);
  if (!body.ok) return body;
  if (body.text.trim() === "") {
    return { ok: false, status: 400, error: `Request body is empty: send JSON like ${example}` };
  }
  try {
    return { ok: true, value: JSON.parse(body.text) };
  } catch (error) {
    return { ok: false, status: 400, error: `Request body is not valid JSON: ${(error as Error).message}` };
  }
}
