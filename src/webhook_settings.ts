/**
 * `WEBHOOK_URL` and `WEBHOOK_SECRET`: where signed events go, and the Standard Webhooks secret that
 * signs them. Both or neither.
 *
 * @module
 */

import { isBase64 } from "./audio/base64.ts";

/** Where events go and how they are signed; undefined fields mean webhooks are off. */
export interface WebhookSettings {
  /** The receiver: https, or http on this machine (127.0.0.1, localhost, [::1]) for local work. */
  url: string;
  /** `whsec_` followed by base64 of 24 to 64 random bytes. */
  secret: string;
}

const LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]"];

/**
 * Checks the two variables; pushes one line per problem to `problems` and returns the settings, or
 * undefined when webhooks are off (or misconfigured). Never echoes the secret.
 */
export function parseWebhookSettings(
  url: string | undefined,
  secret: string | undefined,
  problems: string[],
): WebhookSettings | undefined {
  if (url === undefined && secret === undefined) return undefined;
  const before = problems.length;
  if (url === undefined) {
    problems.push("WEBHOOK_URL: not set, but WEBHOOK_SECRET is: set both to send webhooks, or neither");
  } else {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    const shown = url.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
    if (parsed === undefined) {
      problems.push(`WEBHOOK_URL: "${shown}" is not a URL`);
    } else if (parsed.username !== "" || parsed.password !== "") {
      problems.push("WEBHOOK_URL: has a user name or password in it: the signature authenticates Parley");
    } else if (
      parsed.protocol !== "https:" && !(parsed.protocol === "http:" && LOCAL_HOSTS.includes(parsed.hostname))
    ) {
      problems.push(
        `WEBHOOK_URL: "${shown}" is not https: use an https URL (http only for 127.0.0.1 or localhost)`,
      );
    }
  }
  if (secret === undefined) {
    problems.push(
      "WEBHOOK_SECRET: not set, but WEBHOOK_URL is: make one with `openssl rand -base64 32` and prefix it with whsec_",
    );
  } else {
    const problem = secretProblem(secret);
    if (problem !== undefined) problems.push(`WEBHOOK_SECRET: ${problem}`);
  }
  return problems.length === before ? { url: url!, secret: secret! } : undefined;
}

/** What is wrong with a Standard Webhooks secret (never quoting it), or undefined. */
function secretProblem(secret: string): string | undefined {
  if (!secret.startsWith("whsec_")) {
    return "does not start with whsec_: make one with `openssl rand -base64 32` and prefix it with whsec_";
  }
  const base64 = secret.slice("whsec_".length);
  if (base64 === "" || !isBase64(base64)) {
    return "is not whsec_ followed by base64 (A-Z, a-z, 0-9, +, /, = padding)";
  }
  const bytes = (base64.length / 4) * 3 - (base64.match(/=+$/)?.[0].length ?? 0);
  if (bytes < 24 || bytes > 64) {
    return `holds ${bytes} bytes: use 24 to 64 random bytes (openssl rand -base64 32)`;
  }
  return undefined;
}
