/**
 * A working stand-in for Twilio's REST API (2010-04-01) on 127.0.0.1, port 0: Calls.json (place, and list
 * by `To`, `Status` and `StartTime>` in Twilio's list shape; as at Twilio, a `queued` call has no start
 * time, so `StartTime>` never lists it), Calls/{Sid}.json,
 * IncomingPhoneNumbers.json and IncomingPhoneNumbers/{Sid}.json. It checks HTTP Basic auth like
 * Twilio (401, code 20003), records every request (with its arrival time, and a wait for one to
 * come), and can be told to refuse the next request with a Twilio error body.
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
  /** When it arrived, epoch ms. */
  at: number;
}

/** A number the fake account owns. */
export interface FakeNumber {
  sid: string;
  phoneNumber: string;
  voiceUrl: string;
  voiceMethod: string;
}

/** A call the fake accepted, as its Calls list reports it. */
export interface FakeCall {
  sid: string;
  to: string;
  from: string;
  /** `queued` when accepted; a test moves it on with {@linkcode FakeTwilioRest.setCallStatus}. */
  status: string;
  /** Epoch ms, or null while it is `queued` (Twilio's `start_time`); set when it moves on. */
  startTime: number | null;
  /** Epoch ms: when the fake accepted it (`date_created`). */
  createdAt: number;
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
  /** Resolves with the first request (past or future) matching `match`, as soon as it arrives. */
  waitForRequest(match: (request: RecordedRequest) => boolean): Promise<RecordedRequest>;
  numbers: FakeNumber[];
  /** The next request is answered with `status` and this body instead: JSON, or a string sent as HTML. */
  failNext(status: number, body: unknown): void;
  /** Every call accepted, in order. */
  calls: FakeCall[];
  /** Sets what the Calls list says of call `sid` (e.g. `completed`). */
  setCallStatus(sid: string, status: string): void;
  /**
   * The next call placed is accepted (it is in {@linkcode calls}) but its answer is held until
   * `release()`, as when the process placing it dies before Twilio's answer reaches it.
   */
  stallNextCall(): { accepted: Promise<FakeCall>; release(): void };
  shutdown(): Promise<void>;
}

/** Starts the fake on a free port. */
export function startFakeTwilioRest(options: FakeTwilioRestOptions): FakeTwilioRest {
  const requests: RecordedRequest[] = [];
  const requestWaiters: {
    match: (request: RecordedRequest) => boolean;
    resolve(request: RecordedRequest): void;
    reject(error: Error): void;
  }[] = [];
  const numbers = options.numbers ?? [];
  const failures: { status: number; body: unknown }[] = [];
  const placedCalls: FakeCall[] = [];
  const stalls: { accept(call: FakeCall): void; released: Promise<void> }[] = [];
  const held = new Set<() => void>();
  const expectedAuth = `Basic ${btoa(`${options.accountSid}:${options.authToken}`)}`;
  const account = `/2010-04-01/Accounts/${options.accountSid}`;
  let calls = 0;

  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const form = new URLSearchParams(req.method === "POST" ? await req.text() : "");
    const recorded: RecordedRequest = {
      method: req.method,
      path: url.pathname,
      query: url.searchParams,
      form,
      authorization: req.headers.get("authorization"),
      contentType: req.headers.get("content-type"),
      at: Date.now(),
    };
    requests.push(recorded);
    for (const waiter of requestWaiters.filter((w) => w.match(recorded))) {
      requestWaiters.splice(requestWaiters.indexOf(waiter), 1);
      waiter.resolve(recorded);
    }
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
      const call: FakeCall = {
        sid: `CA${calls.toString(16).padStart(32, "0")}`,
        to: form.get("To") ?? "",
        from: form.get("From") ?? "",
        status: "queued",
        startTime: null,
        createdAt: Date.now(),
      };
      placedCalls.push(call);
      const stall = stalls.shift();
      if (stall !== undefined) {
        stall.accept(call);
        await stall.released;
      }
      return json(201, toCallWire(call, options.accountSid));
    }
    if (req.method === "GET" && url.pathname === `${account}/Calls.json`) {
      // Twilio's `StartTime>` filter (the query reads `StartTime>=…`), to the second: a call with no
      // start time (queued) never matches it.
      const to = url.searchParams.get("To");
      const status = url.searchParams.get("Status");
      const after = url.searchParams.get("StartTime>");
      const since = after === null ? undefined : Date.parse(after);
      const list = placedCalls
        .filter((call) =>
          (to === null || call.to === to) && (status === null || call.status === status) &&
          (since === undefined ||
            (call.startTime !== null && Math.floor(call.startTime / 1000) * 1000 >= since))
        )
        .reverse()
        .map((call) => toCallWire(call, options.accountSid));
      const uri = `${url.pathname}${url.search}`;
      return json(200, {
        calls: list,
        end: Math.max(0, list.length - 1),
        first_page_uri: uri,
        next_page_uri: null,
        page: 0,
        page_size: Number(url.searchParams.get("PageSize") ?? 50),
        previous_page_uri: null,
        start: 0,
        uri,
      });
    }
    const callUpdate = new RegExp(`^${account}/Calls/(CA[0-9a-f]{32})\\.json$`).exec(url.pathname);
    if (req.method === "GET" && callUpdate !== null) {
      const call = placedCalls.find((placed) => placed.sid === callUpdate[1]);
      if (call !== undefined) return json(200, toCallWire(call, options.accountSid));
      return json(404, {
        code: 20404,
        message: `The requested resource ${url.pathname} was not found`,
        more_info: "https://www.twilio.com/docs/errors/20404",
        status: 404,
      });
    }
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

  function shutdown(): Promise<void> {
    // Nothing more can arrive: a wait still open fails instead of holding its test.
    for (const waiter of requestWaiters.splice(0)) {
      waiter.reject(new Error("The fake Twilio REST API shut down before the awaited request came"));
    }
    for (const release of held) release();
    held.clear();
    return server.shutdown();
  }

  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}`,
    requests,
    waitForRequest(match) {
      const found = requests.find(match);
      if (found !== undefined) return Promise.resolve(found);
      const waiting = new Promise<RecordedRequest>((resolve, reject) =>
        requestWaiters.push({ match, resolve, reject })
      );
      waiting.catch(() => {}); // a wait no test awaits any more counts as handled
      return waiting;
    },
    numbers,
    failNext(status, body) {
      failures.push({ status, body });
    },
    calls: placedCalls,
    setCallStatus(sid, status) {
      const call = placedCalls.find((c) => c.sid === sid);
      if (call === undefined) throw new Error(`The fake Twilio placed no call ${sid}`);
      call.status = status;
      if (status !== "queued") call.startTime ??= Date.now();
    },
    stallNextCall() {
      let accept!: (call: FakeCall) => void;
      let release!: () => void;
      const accepted = new Promise<FakeCall>((resolve) => accept = resolve);
      const released = new Promise<void>((resolve) => release = resolve);
      held.add(release);
      stalls.push({ accept, released });
      return {
        accepted,
        release: () => {
          held.delete(release);
          release();
        },
      };
    },
    shutdown,
    [Symbol.asyncDispose]: shutdown,
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

/** A call as Twilio's Calls resource spells it (times in RFC 2822, as Twilio sends them). */
function toCallWire(call: FakeCall, accountSid: string) {
  const started = call.startTime === null ? null : rfc2822(call.startTime);
  return {
    sid: call.sid,
    account_sid: accountSid,
    to: call.to,
    from: call.from,
    status: call.status,
    direction: "outbound-api",
    date_created: rfc2822(call.createdAt),
    date_updated: rfc2822(call.createdAt),
    start_time: started,
    end_time: null,
    duration: null,
    price: null,
    uri: `/2010-04-01/Accounts/${accountSid}/Calls/${call.sid}.json`,
  };
}

function rfc2822(at: number): string {
  return new Date(at).toUTCString().replace("GMT", "+0000");
}
