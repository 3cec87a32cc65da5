/**
 * A working stand-in for Twilio's REST API (2010-04-01) on 127.0.0.1, port 0: Calls.json, Calls/{Sid}.json,
 * IncomingPhoneNumbers.json and IncomingPhoneNumbers/{Sid}.json. It checks HTTP Basic auth like
 * Twilio (401, code 20003), records every request, and can be told to refuse the next request
 * with a Twilio error body.
 *
 * @module
 */

/** One request the fake received. */
export interface RecordedRequest {
  method: string;
  /** Path without query. */
  path: string;
  query: URLSearchParams;
  /** The form body (empty for GET). */
  form: URLSearchParams;
  /** The `Authorization` header, or null. */
  authorization: string | null;
  contentType: string | null;
}

/** A number the fake account owns. */
export interface FakeNumber {
  sid: string;
  phoneNumber: string;
  voiceUrl: string;
  voiceMethod: string;
}

/** Options for {@linkcode startFakeTwilioRest}. */
export interface FakeTwilioRestOptions {
  accountSid: string;
  authToken: string;
  numbers?: FakeNumber[];
}

/** The running fake; `await using` closes it. */
export interface FakeTwilioRest extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`, for TWILIO_API_BASE_URL. */
  baseUrl: string;
  requests: RecordedRequest[];
  numbers: FakeNumber[];
  /** The next request is answered with `status` and this body instead: JSON, or a string sent as HTML. */
  failNext(status: number, body: unknown): void;
  shutdown(): Promise<void>;
}

/** Starts the fake on a free port. */
export function startFakeTwilioRest(options: FakeTwilioRestOptions): FakeTwilioRest {
  const requests: RecordedRequest[] = [];
  const numbers = options.numbers ?? [];
  const failures: { status: number; body: unknown }[] = [];
  const expectedAuth = `Basic ${btoa(`${options.accountSid}:${options.authToken}`)}`;
  const account = `/2010-04-01/Accounts/${options.accountSid}`;
  let calls = 0;

  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const form = new URLSearchParams(req.method === "POST" ? await req.text() : "");
    requests.push({
      method: req.method,
      path: url.pathname,
      query: url.searchParams,
      form,
      authorization: req.headers.get("authorization"),
      contentType: req.headers.get("content-type"),
    });
    const failure = failures.shift();
    if (failure !== undefined) {
      return typeof failure.body === "string"
        ? new Response(failure.body, { status: failure.status, headers: { "content-type": "text/html" } })
        : json(failure.status, failure.body);
    }
    if (req.headers.get("authorization") !== expectedAuth) {
      return json(401, {
        code: 20003,
        message: "Authenticate",
        more_info: "https://www.twilio.com/docs/errors/20003",
        status: 401,
      });
    }
    if (req.method === "POST" && url.pathname === `${account}/Calls.json`) {
      calls++;
      return json(201, {
        sid: `CA${calls.toString(16).padStart(32, "0")}`,
        status: "queued",
        to: form.get("To"),
        from: form.get("From"),
      });
    }
    const callUpdate = new RegExp(`^${account}/Calls/(CA[0-9a-f]{32})\\.json$`).exec(url.pathname);
    if (req.method === "POST" && callUpdate !== null) {
      return json(200, { sid: callUpdate[1], status: form.get("Status") ?? "in-progress" });
    }
    if (req.method === "GET" && url.pathname === `${account}/IncomingPhoneNumbers.json`) {
      const wanted = url.searchParams.get("PhoneNumber");
      const list = numbers.filter((n) => wanted === null || n.phoneNumber === wanted).map(toWire);
      return json(200, { incoming_phone_numbers: list, page: 0 });
    }
    const update = new RegExp(`^${account}/IncomingPhoneNumbers/(PN[0-9a-f]{32})\\.json$`).exec(url.pathname);
    if (req.method === "POST" && update !== null) {
      const number = numbers.find((n) => n.sid === update[1]);
      if (number === undefined) {
        return json(404, {
          code: 20404,
          message: `The requested resource ${url.pathname} was not found`,
          status: 404,
        });
      }
      number.voiceUrl = form.get("VoiceUrl") ?? number.voiceUrl;
      number.voiceMethod = form.get("VoiceMethod") ?? number.voiceMethod;
      return json(200, toWire(number));
    }
    return json(404, {
      code: 20404,
      message: `The requested resource ${url.pathname} was not found`,
      status: 404,
    });
  });

  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}`,
    requests,
    numbers,
    failNext(status, body) {
      failures.push({ status, body });
    },
    shutdown: () => server.shutdown(),
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

function toWire(number: FakeNumber) {
  return {
    sid: number.sid,
    phone_number: number.phoneNumber,
    voice_url: number.voiceUrl,
    voice_method: number.voiceMethod,
  };
}
