/**
 * A webhook receiver for tests: a `Deno.serve` on 127.0.0.1 (on a port no `port: 0` listener can be
 * given: `unsharedPort`) that verifies every request with `npm:standardwebhooks`' own
 * `Webhook.verify` (as a user's receiver would), and that can be `down` (its port refuses
 * connections), `failing` (it reads and verifies the request, then answers 500) or `up` (200).
 *
 * @module
 */

import { Webhook } from "standardwebhooks";
import { releasePort, unsharedPort } from "./unshared_port.ts";

/** What the receiver does with the next requests. */
export type ReceiverMode = "up" | "failing" | "down";

/** One request that reached the receiver. */
export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  /** The verified body, parsed. */
  body: { type: string; timestamp: string; data: Record<string, unknown> };
  /** What the receiver answered. */
  answered: number;
}

/** A running receiver. */
export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/hooks`. */
  readonly url: string;
  /** Requests verified and recorded (answered 200 or 500), in order. */
  readonly received: ReceivedWebhook[];
  /** Requests whose signature did not verify (answered 400): should stay empty. */
  readonly rejected: { id: string | null; error: string }[];
  /** Requests received while `failing` or `up`, counting rejected ones. */
  readonly requests: number;
  /** Switches mode (`down` closes the listener; `up`/`failing` listen again on the same port). */
  setMode(mode: ReceiverMode): Promise<void>;
  /** Resolves once `predicate` holds for what was received (checked on each request). */
  waitFor(predicate: (received: readonly ReceivedWebhook[]) => boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a receiver verifying with `secret` (`whsec_…`).
 *
 * @example
 * ```ts
 * const receiver = await startWebhookReceiver(SECRET);
 * await receiver.setMode("down");
 * ```
 */
export async function startWebhookReceiver(
  secret: string,
  mode: ReceiverMode = "up",
): Promise<WebhookReceiver> {
  const webhook = new Webhook(secret);
  const received: ReceivedWebhook[] = [];
  const rejected: { id: string | null; error: string }[] = [];
  const waiters: { predicate: (r: readonly ReceivedWebhook[]) => boolean; resolve: () => void }[] = [];
  let requests = 0;
  let current: ReceiverMode = mode;
  let port = 0;
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;

  const check = () => {
    for (const waiter of [...waiters]) {
      if (waiter.predicate(received)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  const handler = async (request: Request): Promise<Response> => {
    requests++;
    const body = await request.text();
    const headers = Object.fromEntries(request.headers);
    let verified: ReceivedWebhook["body"];
    try {
      verified = webhook.verify(body, headers) as ReceivedWebhook["body"];
    } catch (error) {
      rejected.push({ id: request.headers.get("webhook-id"), error: String(error) });
      return new Response("bad signature", { status: 400 });
    }
    const answered = current === "failing" ? 500 : 200;
    received.push({
      id: headers["webhook-id"]!,
      timestamp: headers["webhook-timestamp"]!,
      signature: headers["webhook-signature"]!,
      body: verified,
      answered,
    });
    check();
    return new Response(answered === 200 ? "ok" : "try later", { status: answered });
  };
  const listen = () => {
    // The port is fixed on the first listen, then listened on again after each `down`.
    if (port !== 0) {
      server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, handler);
      return;
    }
    // The first listen takes an unshared port, reserved until `close`: no other test picks it while
    // this receiver is down. One bound meanwhile all the same (by a test not picking through
    // `unsharedPort`) is passed over for the next.
    for (;;) {
      const picked = unsharedPort();
      try {
        server = Deno.serve({ hostname: "127.0.0.1", port: picked, onListen() {} }, handler);
        port = picked;
        return;
      } catch (error) {
        releasePort(picked);
        if (!(error instanceof Deno.errors.AddrInUse)) throw error;
      }
    }
  };
  const stop = async () => {
    const s = server;
    server = undefined;
    await s?.shutdown();
  };
  if (mode === "down") {
    // Reserve a port that nothing listens on yet.
    listen();
    await stop();
  } else {
    listen();
  }

  return {
    get url() {
      return `http://127.0.0.1:${port}/hooks`;
    },
    received,
    rejected,
    get requests() {
      return requests;
    },
    async setMode(next) {
      current = next;
      if (next === "down") await stop();
      else if (server === undefined) listen();
    },
    waitFor(predicate) {
      if (predicate(received)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
    async close() {
      await stop();
      releasePort(port);
    },
  };
}
