/**
 * S3 multipart upload of a file, holding one part in memory: CreateMultipartUpload (`POST ?uploads`),
 * UploadPart (`PUT ?partNumber=N&uploadId=…`) for each part read from the file into one buffer, then
 * CompleteMultipartUpload (`POST ?uploadId=…`, the parts' numbers and ETags in XML). A failure aborts the
 * upload (`DELETE ?uploadId=…`), so the bucket keeps no parts, and is thrown. Requests are signed by the
 * caller's `npm:aws4fetch` client (which retries a 5xx or 429 on its own).
 *
 * @module
 */

import type { AwsClient } from "aws4fetch";
import { errorText, type Logger } from "../log.ts";

/** The part size, bytes (S3 takes parts of 5 MiB or more, but the last, and at most 10,000 of them). */
export const PART_SIZE = 8 * 1024 * 1024;

/** S3's most parts per upload: a larger file gets larger parts. */
const MAX_PARTS = 10_000;

/** What {@linkcode uploadInParts} uploads, where, and how. */
export interface MultipartUpload {
  /** The signing client. */
  client: AwsClient;
  /** The object's URL. */
  url: string;
  /** The file to upload. */
  path: string;
  /** Its size, bytes (the part size grows when it would take more than 10,000 parts). */
  size: number;
  /** The object's headers (Content-Type, `x-amz-meta-*`), given to CreateMultipartUpload. */
  headers: Record<string, string>;
  /** Bytes per part, the last but one. @default PART_SIZE */
  partSize?: number;
  /** Where a failed abort is told (the upload's own failure is thrown). */
  log: Logger;
}

/** A bucket answer's text for an error message: whitespace folded, 200 characters at most. */
export function brief(text: string): string {
  return text.trim().replace(/\s+/g, " ").slice(0, 200);
}

/** The text of an answer, or an Error naming `what` when it is not a success. */
async function answered(what: string, response: Response): Promise<string> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${what} answered HTTP ${response.status} ${brief(text)}`);
  return text;
}

/** `url` with `params` in its query. */
function withQuery(url: string, params: Record<string, string>): string {
  const target = new URL(url);
  for (const [name, value] of Object.entries(params)) target.searchParams.set(name, value);
  return target.href;
}

/** Reads from `file` until `buffer` is full or the file ends; returns the bytes read. */
async function fill(file: Deno.FsFile, buffer: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const read = await file.read(buffer.subarray(filled));
    if (read === null) break;
    filled += read;
  }
  return filled;
}

/** Uploads the parts of `path` to `uploadId`; returns their ETags (in part order) and the bytes sent. */
async function uploadParts(
  upload: MultipartUpload,
  uploadId: string,
  partSize: number,
): Promise<{ etags: string[]; bytes: number }> {
  const buffer = new Uint8Array(partSize);
  const etags: string[] = [];
  let bytes = 0;
  using file = await Deno.open(upload.path);
  for (let length = await fill(file, buffer); length > 0; length = await fill(file, buffer)) {
    const partNumber = String(etags.length + 1);
    const response = await upload.client.fetch(withQuery(upload.url, { partNumber, uploadId }), {
      method: "PUT",
      body: buffer.subarray(0, length),
    });
    await answered(`UploadPart ${partNumber}`, response);
    const etag = response.headers.get("ETag");
    if (etag === null) throw new Error(`UploadPart ${partNumber} answered no ETag`);
    etags.push(etag);
    bytes += length;
  }
  return { etags, bytes };
}

/** The CompleteMultipartUpload document: each part's number and ETag. */
function completion(etags: string[]): string {
  const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escape(etag)}</ETag></Part>`)
      .join("") +
    "</CompleteMultipartUpload>";
}

/** Aborts `uploadId` so the bucket drops its parts; a failure is only logged. */
async function abort(upload: MultipartUpload, uploadId: string): Promise<void> {
  try {
    const response = await upload.client.fetch(withQuery(upload.url, { uploadId }), { method: "DELETE" });
    await answered("AbortMultipartUpload", response);
  } catch (error) {
    upload.log.warn(
      `Cannot abort the multipart upload ${uploadId} of ${upload.url}: ${errorText(error)}; ` +
        "its parts stay in the bucket until a lifecycle rule (AbortIncompleteMultipartUpload) removes them",
    );
  }
}

/**
 * Uploads `upload.path` to `upload.url` in parts of `upload.partSize` bytes, reading one part at a time
 * into one buffer (the memory an upload holds, whatever the file's size). Resolves with the bytes
 * uploaded.
 * @throws {Error} when a request fails or is refused (a CompleteMultipartUpload answered 200 with an
 * `<Error>` too), after aborting the upload.
 */
export async function uploadInParts(upload: MultipartUpload): Promise<number> {
  const partSize = Math.max(upload.partSize ?? PART_SIZE, Math.ceil(upload.size / MAX_PARTS));
  const created = await upload.client.fetch(`${upload.url}?uploads`, {
    method: "POST",
    headers: upload.headers,
  });
  const text = await answered("CreateMultipartUpload", created);
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(text)?.[1];
  if (uploadId === undefined) throw new Error(`CreateMultipartUpload answered no UploadId: ${brief(text)}`);
  try {
    const { etags, bytes } = await uploadParts(upload, uploadId, partSize);
    const completed = await upload.client.fetch(withQuery(upload.url, { uploadId }), {
      method: "POST",
      headers: { "Content-Type": "application/xml" },
      body: completion(etags),
    });
    // S3 answers 200 before it has assembled the parts, and tells a failure in the body.
    const result = await answered("CompleteMultipartUpload", completed);
    if (/<Error>/.test(result)) throw new Error(`CompleteMultipartUpload failed: ${brief(result)}`);
    return bytes;
  } catch (error) {
    await abort(upload, uploadId);
    throw error;
  }
}
