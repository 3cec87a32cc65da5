/**
 * The recordings' bucket: `RECORDINGS_S3_URL` with the standard `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`), checked at startup.
 *
 * @module
 */

/** Where and as whom: parsed from `RECORDINGS_S3_URL` and the `AWS_*` variables. */
export interface S3Settings {
  /** `http(s)://host[:port]/bucket[/prefix]` (path-style), the objects' base. */
  url: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
}

/**
 * The bucket URL `RECORDINGS_S3_URL` names: `s3://bucket[/prefix]` (AWS, in `region`) or an
 * `http(s)://host/bucket[/prefix]` endpoint (MinIO, R2, a fake). Undefined when it is neither.
 */
export function s3BaseUrl(value: string, region: string): string | undefined {
  const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/.*)?$/.exec(value.trim());
  if (s3 !== null) {
    return `https://s3.${region}.amazonaws.com/${s3[1]}${(s3[2] ?? "").replace(/\/+$/, "")}`;
  }
  try {
    const url = new URL(value.trim());
    if ((url.protocol !== "https:" && url.protocol !== "http:") || url.pathname.replace(/\/+/g, "") === "") {
      return undefined;
    }
    if (url.search !== "" || url.hash !== "" || url.username !== "") return undefined;
    return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  } catch {
    return undefined;
  }
}

/**
 * The bucket settings, or undefined when `RECORDINGS_S3_URL` is unset; each problem names its variable.
 * `text` reads a variable (trimmed, undefined when empty).
 */
export function parseRecordingsS3(
  text: (
    name:
      | "RECORDINGS_S3_URL"
      | "AWS_ACCESS_KEY_ID"
      | "AWS_SECRET_ACCESS_KEY"
      | "AWS_SESSION_TOKEN"
      | "AWS_REGION",
  ) => string | undefined,
  problems: string[],
): S3Settings | undefined {
  const value = text("RECORDINGS_S3_URL");
  if (value === undefined) return undefined;
  const region = text("AWS_REGION") ?? "us-east-1";
  const url = s3BaseUrl(value, region);
  if (url === undefined) {
    problems.push(
      `RECORDINGS_S3_URL: "${value.replace(/[^\x20-\x7e]/g, "?").slice(0, 200)}" is not a bucket URL: ` +
        "use s3://bucket[/prefix] or http(s)://host[:port]/bucket[/prefix] (path-style, no query)",
    );
  }
  const accessKeyId = text("AWS_ACCESS_KEY_ID");
  const secretAccessKey = text("AWS_SECRET_ACCESS_KEY");
  const missing = [
    ...(accessKeyId === undefined ? ["AWS_ACCESS_KEY_ID"] : []),
    ...(secretAccessKey === undefined ? ["AWS_SECRET_ACCESS_KEY"] : []),
  ];
  if (missing.length > 0) {
    problems.push(
      `${missing.join(" and ")}: not set, and RECORDINGS_S3_URL needs them: set the bucket's credentials`,
    );
  }
  if (url === undefined || accessKeyId === undefined || secretAccessKey === undefined) return undefined;
  const sessionToken = text("AWS_SESSION_TOKEN");
  return {
    url,
    accessKeyId,
    secretAccessKey,
    region,
    ...(sessionToken === undefined ? {} : { sessionToken }),
  };
}
