/**
 * FakeLiveServer: a scripted OpenAI GPT-Live server (primary WebSocket) on 127.0.0.1, port 0,
 * written from npm `openai@7.57.0` `resources/live`. Tests and the bench share it.
 *
 * Like the real server where the relay can tell:
 * - Handshake: `GET /v1/live/sessions` with `Authorization: Bearer …` and no query parameters;
 *   refuses with 401 (no or wrong key), 404 (other paths), 400 (a query string), or the status of
 *   `refuseWith` (401/403/404/429), with OpenAI's JSON error body.
 * - Every client event is checked against the types (`live_schema.ts`): unknown events or fields,
 *   missing or mistyped ones are answered with `error` (type `invalid_request_error`, code, message,
 *   param, the command's `event_id` as `client_event_id`), and the session goes on.
 * - `session.start` first: anything before `session.started` is refused (`session_not_started`),
 *   a second start too (`session_already_started`). `session.started` carries a `sess_…` id and the
 *   resolved session. `response.*` needs Responses delegation (`delegation_required`); a
 *   `function_call_output` must answer a call the backend made (`unknown_call_id`). These four codes
 *   are assumptions: the types do not list codes. So is the socket staying open, unstarted, after a
 *   refused `session.start` (a corrected start is then accepted).
 * - Voices: `audio.output.voice` must be one of the types' `BuiltInVoice` (Parley's `LIVE_VOICES`,
 *   pinned to it by `tests/engines/sdk_types_test.ts`) or a custom `{id}`; the types also allow any
 *   string, which the fake refuses as the real server is assumed to for a voice it does not have.
 * - Pacing (assumption, to confirm on a real deployment): GPT-Live paces its primary-socket audio
 *   in real time, because one full-duplex model listens while it speaks and cannot render its answer
 *   ahead of saying it. The fake sends 20 ms deltas on a real-time schedule; `speed` > 1 or
 *   `leadMs` make it run ahead for tests of audio buffered at Twilio.
 * - The model owns barge-in: caller speech over the agent does not stop it, unless
 *   `yieldToCallerAfterMs` says the model gives way after that much overlapping speech, or a test
 *   calls `stopSpeaking()`.
 * - Transcript deltas carry `start_ms`/`end_ms` on the session timeline (wall-clock ms since
 *   `session.started`); `session.usage.updated` reports cumulative seconds every `usageIntervalMs`;
 *   `session.close` is answered with `session.closed` (`close_requested`, final usage), then a 1000
 *   close. `drop()` closes with 1011 and no `session.closed` (a lost connection).
 *
 * @module
 */

import { FakeLiveSession, type LiveScript } from "./fake_live_session.ts";

export {
  FakeLiveSession,
  type LiveScript,
  type LiveUtterance,
  type ReceivedLiveEvent,
} from "./fake_live_session.ts";

/** The path GPT-Live serves its primary WebSocket on. */
export const LIVE_PATH = "/v1/live/sessions";

/** Options of {@linkcode FakeLiveServer.start}. */
export interface FakeLiveOptions extends LiveScript {
  /** Answer every handshake with this HTTP status (401, 403, 404 or 429) instead of upgrading. */
  refuseWith?: number;
  /** The only key accepted; any non-empty bearer token when unset. */
  apiKey?: string;
  /** Time every accepted handshake takes before the upgrade, ms (TLS + upgrade; the bench). @default 0 */
  handshakeDelayMs?: number;
}

const REFUSALS: Record<number, { message: string; type: string; code: string | null }> = {
  401: {
    message:
      "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    type: "invalid_request_error",
    code: "invalid_api_key",
  },
  403: {
    message: "Your project does not have access to GPT-Live.",
    type: "invalid_request_error",
    code: "model_not_found",
  },
  404: { message: `Invalid URL (GET ${LIVE_PATH})`, type: "invalid_request_error", code: null },
  429: {
    message: "You exceeded your current quota, please check your plan and billing details.",
    type: "insufficient_quota",
    code: "insufficient_quota",
  },
};

/** A scripted GPT-Live server. */
export class FakeLiveServer {
  /** Every session opened, in order. */
  readonly sessions: FakeLiveSession[] = [];
  /** Handshakes seen, refused ones included. */
  readonly handshakes: { url: string; authorization: string | null; status: number; at: number }[] = [];
  /** Refuse the next handshakes with this status; undefined to accept. */
  refuseWith: number | undefined;
  /** When set, the next handshakes wait for this promise before upgrading (a slow open). */
  holdHandshake: Promise<void> | undefined;
  readonly #options: FakeLiveOptions;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  #waiters: (() => boolean)[] = [];

  private constructor(options: FakeLiveOptions) {
    this.#options = options;
    this.refuseWith = options.refuseWith;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => this.#handshake(request),
    );
  }

  /** Starts a fake on a free port. */
  static start(options: FakeLiveOptions = {}): FakeLiveServer {
    return new FakeLiveServer(options);
  }

  /** The URL to give Parley as `OPENAI_LIVE_URL`. */
  get url(): string {
    return `ws://127.0.0.1:${this.#server.addr.port}${LIVE_PATH}`;
  }

  /** Resolves with session `index` (0-based) once its socket is open; default: the next new one. */
  session(index = this.sessions.length): Promise<FakeLiveSession> {
    return new Promise((resolve) => {
      const check = () => {
        const session = this.sessions[index];
        if (session !== undefined) resolve(session);
        return session !== undefined;
      };
      if (!check()) this.#waiters.push(check);
    });
  }

  async #handshake(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const authorization = request.headers.get("authorization");
    const refuse = (status: number, error = REFUSALS[status]) => {
      this.handshakes.push({ url: request.url, authorization, status, at: performance.now() });
      return Response.json({ error: { param: null, ...error } }, { status });
    };
    if (this.refuseWith !== undefined) return refuse(this.refuseWith);
    if (url.pathname !== LIVE_PATH) {
      return refuse(404, { ...REFUSALS[404]!, message: `Invalid URL (${request.method} ${url.pathname})` });
    }
    const token = /^Bearer (\S+)$/.exec(authorization ?? "")?.[1];
    if (token === undefined) {
      return refuse(401, {
        message:
          "You didn't provide an API key. You need to provide your API key in an Authorization header " +
          "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        type: "invalid_request_error",
        code: null,
      });
    }
    if (this.#options.apiKey !== undefined && token !== this.#options.apiKey) return refuse(401);
    if (url.search !== "") {
      return refuse(400, {
        message: "Live sessions take no query parameters: send the model in session.start.",
        type: "invalid_request_error",
        code: "unknown_parameter",
      });
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return refuse(400, {
        message: "Expected a WebSocket upgrade.",
        type: "invalid_request_error",
        code: null,
      });
    }
    if (this.holdHandshake !== undefined) await this.holdHandshake;
    const delayMs = this.#options.handshakeDelayMs ?? 0;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    this.handshakes.push({ url: request.url, authorization, status: 101, at: performance.now() });
    const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
    this.sessions.push(new FakeLiveSession(socket, this.#options));
    this.#waiters = this.#waiters.filter((check) => !check());
    return response;
  }

  /** Closes every session and the listener. */
  async close(): Promise<void> {
    for (const session of this.sessions) session.drop(1001);
    await Promise.all(this.sessions.map((s) => s.closed));
    await this.#server.shutdown();
  }

  /** `await using live = FakeLiveServer.start()` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
