/**
 * The few Twilio REST calls Parley makes (2010-04-01 API), over `fetch`: place a call, list the calls
 * to a number since a time, find a number, point a number's voice webhook at Parley.
 *
 * `npm:twilio`'s own client is not used: importing it pulls in `debug`, which reads every
 * environment variable and so fails under Parley's scoped `--allow-env`.
 *
 * Errors are {@linkcode TwilioRestError}s carrying Twilio's HTTP status, error code and message. The
 * auth token never appears in an error or a log line.
 *
 * @module
 */

/** How long one REST call may take, in milliseconds. */
export const TWILIO_REST_TIMEOUT_MS = 15_000;

/** Options for {@linkcode createTwilioRestClient}. */
export interface TwilioRestClientOptions {
  /** TWILIO_ACCOUNT_SID (`AC…`). */
  accountSid: string;
  /** TWILIO_AUTH_TOKEN. */
  authToken: string;
  /** TWILIO_API_BASE_URL, without trailing slash. @default "https://api.twilio.com" */
  baseUrl?: string;
  /** The fetch to use; tests may pass their own. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Bound on each call. @default TWILIO_REST_TIMEOUT_MS */
  timeoutMs?: number;
}

/** Answering-machine detection modes of the Calls API. */
export type MachineDetection = "Enable" | "DetectMessageEnd";

/** Call progress events a status callback can subscribe to. */
export type StatusCallbackEvent = "initiated" | "ringing" | "answered" | "completed";

/** Parameters of {@linkcode TwilioRestClient.createCall}, camelCase for Twilio's form fields. */
export interface CreateCallParams {
  /** Number to call, E.164. */
  to: string;
  /** Caller ID: a number on the account, E.164. */
  from: string;
  /** Webhook Twilio asks for TwiML when the call is answered (requested with POST). */
  url: string;
  /** Where Twilio posts call progress (with POST). */
  statusCallback?: string;
  /** Which progress events to post. */
  statusCallbackEvent?: readonly StatusCallbackEvent[];
  /** Detect answering machines. */
  machineDetection?: MachineDetection;
  /** Run detection in the background and post the result to `asyncAmdStatusCallback`. */
  asyncAmd?: boolean;
  /** Where the asynchronous detection result is posted (with POST). */
  asyncAmdStatusCallback?: string;
}

/** A call as the Calls API returns it (the fields Parley uses). */
export interface TwilioCall {
  /** CallSid (`CA…`). */
  sid: string;
  /** Status when created, usually `queued`. */
  status: string;
  /** Called number. */
  to: string;
  /** Caller ID. */
  from: string;
}

/** A call as the Calls list returns it (the fields Parley uses). */
export interface ListedCall extends TwilioCall {
  /** When the call started (epoch ms), or undefined while it is queued (Twilio's `start_time` is null). */
  startTime: number | undefined;
}

/** Filters of {@linkcode TwilioRestClient.listCalls}. */
export interface ListCallsParams {
  /** Calls to this number, E.164 (`To`). */
  to: string;
  /** Calls that started at or after this time, epoch ms (`StartTime>`, sent to the second in UTC). */
  startedAfter?: number;
  /**
   * Calls in this status (`Status`), e.g. `queued`: a queued call has no start time yet, so no
   * `StartTime>` filter finds it.
   */
  status?: string;
}

/** A phone number owned by the account (the fields Parley uses). */
export interface IncomingNumber {
  /** IncomingPhoneNumber SID (`PN…`). */
  sid: string;
  /** The number, E.164. */
  phoneNumber: string;
  /** Voice webhook URL, or `""` when none is set. */
  voiceUrl: string;
  /** Voice webhook method (`POST` or `GET`). */
  voiceMethod: string;
}

/** The REST calls Parley makes; built by {@linkcode createTwilioRestClient}. */
export interface TwilioRestClient {
  /** Places an outbound call. */
  createCall(params: CreateCallParams): Promise<TwilioCall>;
  /**
   * The calls to `to` that started at or after `startedAfter`, or are in `status` (the first page, up
   * to 50, newest first): `GET Calls.json?To=…&StartTime>=…` or `…&Status=queued`.
   */
  listCalls(params: ListCallsParams): Promise<ListedCall[]>;
  /** Call `sid` as Twilio has it now (`GET Calls/{Sid}.json`), or undefined when Twilio has none (404). */
  getCall(sid: string): Promise<ListedCall | undefined>;
  /** Hangs up call `sid` (`Status=completed`). */
  hangUpCall(sid: string): Promise<void>;
  /** Finds the account's number `phoneNumber` (E.164), or undefined when the account lacks it. */
  findIncomingNumber(phoneNumber: string): Promise<IncomingNumber | undefined>;
  /** Sets a number's voice webhook to `url`, requested with POST. Returns the updated number. */
  updateIncomingNumberVoiceUrl(sid: string, url: string): Promise<IncomingNumber>;
}

/** Options for {@linkcode TwilioRestError}. */
export interface TwilioRestErrorOptions {
  /** HTTP status Twilio answered, or undefined when no answer came. */
  status?: number;
  /** Twilio's error code (e.g. 21211), when it sent one. */
  code?: number;
  /** Twilio's documentation link for the code. */
  moreInfo?: string;
  /** The underlying failure (network error, timeout). */
  cause?: unknown;
}

/** A refused or failed REST call. `message` is Twilio's own message when it sent one. */
export class TwilioRestError extends Error {
  /** HTTP status Twilio answered, or undefined when Twilio could not be reached. */
  readonly status: number | undefined;
  /** Twilio's error code (see https://www.twilio.com/docs/api/errors), when it sent one. */
  readonly code: number | undefined;
  /** Twilio's documentation link for the code, when it sent one. */
  readonly moreInfo: string | undefined;

  /** Builds the error. */
  constructor(message: string, options: TwilioRestErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TwilioRestError";
    this.status = options.status;
    this.code = options.code;
    this.moreInfo = options.moreInfo;
  }
}

/**
 * Builds a REST client authenticating with HTTP Basic (`AccountSid:AuthToken`).
 *
 * @example
 * ```ts
 * const twilio = createTwilioRestClient({ accountSid, authToken, baseUrl: config.twilioApiBaseUrl });
 * const call = await twilio.createCall({ to: "+14155550100", from: "+14155550199", url });
 * console.log(call.sid);
 * ```
 */
export function createTwilioRestClient(options: TwilioRestClientOptions): TwilioRestClient {
  const request = createRestRequester(options);

  return {
    async createCall(params) {
      const body = await request("POST", "/Calls.json", createCallForm(params));
      return {
        sid: requireString(body, "sid", "Calls.json"),
        status: optionalString(body, "status"),
        to: optionalString(body, "to"),
        from: optionalString(body, "from"),
      };
    },

    async listCalls({ to, startedAfter, status }) {
      const query = new URLSearchParams({ To: to });
      if (startedAfter !== undefined) {
        // Twilio's filter parameter is named `StartTime>`, so the query reads `StartTime>=2026-12-06T07:00:00Z`.
        const time = new Date(Math.floor(startedAfter / 1000) * 1000).toISOString().replace(".000Z", "Z");
        query.set("StartTime>", time);
      }
      if (status !== undefined) query.set("Status", status);
      query.set("PageSize", "50");
      const body = await request("GET", `/Calls.json?${query}`);
      const list = body.calls;
      if (!Array.isArray(list)) throw new TwilioRestError("Twilio answered Calls.json without calls");
      return list.filter(isRecord).map(toListedCall);
    },

    async getCall(sid) {
      try {
        return toListedCall(await request("GET", `/Calls/${encodeURIComponent(sid)}.json`));
      } catch (error) {
        if (error instanceof TwilioRestError && error.status === 404) return undefined;
        throw error;
      }
    },

    async hangUpCall(sid) {
      await request(
        "POST",
        `/Calls/${encodeURIComponent(sid)}.json`,
        new URLSearchParams({ Status: "completed" }),
      );
    },

    async findIncomingNumber(phoneNumber) {
      const query = new URLSearchParams({ PhoneNumber: phoneNumber });
      const body = await request("GET", `/IncomingPhoneNumbers.json?${query}`);
      const list = body.incoming_phone_numbers;
      if (!Array.isArray(list)) {
        throw new TwilioRestError("Twilio answered IncomingPhoneNumbers.json without incoming_phone_numbers");
      }
      const numbers = list.filter(isRecord).map(toIncomingNumber);
      return numbers.find((n) => n.phoneNumber === phoneNumber);
    },

    async updateIncomingNumberVoiceUrl(sid, url) {
      const form = new URLSearchParams({ VoiceUrl: url, VoiceMethod: "POST" });
      const body = await request("POST", `/IncomingPhoneNumbers/${encodeURIComponent(sid)}.json`, form);
      return toIncomingNumber(body);
    },
  };
}

/** One request to Twilio's REST API under the account: JSON back, or a {@linkcode TwilioRestError}. */
type RestRequest = (
  method: "GET" | "POST",
  path: string,
  form?: URLSearchParams,
) => Promise<Record<string, unknown>>;

/** Requests with HTTP Basic auth, a timeout, no redirects, and Twilio's errors read from its JSON. */
function createRestRequester(options: TwilioRestClientOptions): RestRequest {
  const baseUrl = (options.baseUrl ?? "https://api.twilio.com").replace(/\/+$/, "");
  const fetchFn = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? TWILIO_REST_TIMEOUT_MS;
  const authorization = `Basic ${btoa(`${options.accountSid}:${options.authToken}`)}`;
  const accountPath = `/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}`;

  return async function request(method, path, form) {
    const url = `${baseUrl}${accountPath}${path}`;
    const headers = new Headers({ authorization, accept: "application/json" });
    if (form !== undefined) headers.set("content-type", "application/x-www-form-urlencoded");
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await fetchFn(url, {
        method,
        headers,
        signal: controller.signal,
        redirect: "manual",
        ...(form === undefined ? {} : { body: form.toString() }),
      });
      text = await response.text();
    } catch (error) {
      const why = controller.signal.aborted
        ? `no answer within ${timeoutMs / 1000} s`
        : error instanceof Error
        ? error.message
        : String(error);
      throw new TwilioRestError(`Cannot reach Twilio at ${baseUrl}: ${why}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
    let body: unknown = undefined;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      // An HTML error page from a proxy: reported below by status.
    }
    if (response.ok && isRecord(body)) return body;
    throw restError(response.status, body, `${method} ${path}`);
  };
}

/** The form of `POST Calls.json`. */
function createCallForm(params: CreateCallParams): URLSearchParams {
  const form = new URLSearchParams({ To: params.to, From: params.from, Url: params.url, Method: "POST" });
  if (params.statusCallback !== undefined) {
    form.set("StatusCallback", params.statusCallback);
    form.set("StatusCallbackMethod", "POST");
  }
  for (const event of params.statusCallbackEvent ?? []) form.append("StatusCallbackEvent", event);
  if (params.machineDetection !== undefined) form.set("MachineDetection", params.machineDetection);
  if (params.asyncAmd !== undefined) form.set("AsyncAmd", String(params.asyncAmd));
  if (params.asyncAmdStatusCallback !== undefined) {
    form.set("AsyncAmdStatusCallback", params.asyncAmdStatusCallback);
    form.set("AsyncAmdStatusCallbackMethod", "POST");
  }
  return form;
}

/** One call of `GET Calls.json`. */
function toListedCall(record: Record<string, unknown>): ListedCall {
  const started = typeof record.start_time === "string" ? Date.parse(record.start_time) : NaN;
  return {
    sid: requireString(record, "sid", "Calls.json"),
    status: optionalString(record, "status"),
    to: optionalString(record, "to"),
    from: optionalString(record, "from"),
    startTime: Number.isNaN(started) ? undefined : started,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function restError(status: number, body: unknown, what: string): TwilioRestError {
  if (isRecord(body)) {
    const record = body;
    const code = typeof record.code === "number" ? record.code : undefined;
    const message = typeof record.message === "string" && record.message !== ""
      ? record.message
      : `Twilio answered HTTP ${status} to ${what}`;
    const moreInfo = typeof record.more_info === "string" ? record.more_info : undefined;
    return new TwilioRestError(message, {
      status,
      ...(code === undefined ? {} : { code }),
      ...(moreInfo === undefined ? {} : { moreInfo }),
    });
  }
  return new TwilioRestError(`Twilio answered HTTP ${status} to ${what} without a JSON body`, { status });
}

function toIncomingNumber(record: Record<string, unknown>): IncomingNumber {
  return {
    sid: requireString(record, "sid", "IncomingPhoneNumber"),
    phoneNumber: optionalString(record, "phone_number"),
    voiceUrl: optionalString(record, "voice_url"),
    voiceMethod: optionalString(record, "voice_method"),
  };
}

function requireString(record: Record<string, unknown>, key: string, what: string): string {
  const value = record[key];
  if (typeof value !== "string" || value === "") {
    throw new TwilioRestError(`Twilio answered ${what} without "${key}"`);
  }
  return value;
}

function optionalString(record: Record<string, unknown>, key: string): string {
  const value = record[key];
  return typeof value === "string" ? value : "";
}
