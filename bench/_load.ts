/**
 * One load run: N simulated Twilio calls through a relay to the fake Realtime server, all in this
 * process so both ends of every frame are timed on the same clock.
 *
 * Each call opens a signed Media Stream socket (on Parley, at the per-call stream URL the signed
 * voice webhook answers, as Twilio does), sends `connected` and `start` (persona `tester` from
 * tests/testdata/personas, or `tester_live` from tests/testdata/live_personas on GPT-Live), then a
 * 160-byte frame every 20 ms on its own phase of a shared grid (phases spread evenly over
 * the 20 ms, as independent calls are). It plays the agent's audio on a real-time playback clock:
 * each `media` frame queues behind what is playing, a `mark` is due when playback reaches it and is
 * echoed on the call's next 20 ms tick (Twilio's media server also works in 20 ms packets), and
 * `clear` empties the queue and echoes pending marks at once, as Twilio does. One timer drives
 * every call and the fake upstream, so the generator costs one wake-up per tick, not one per call.
 *
 * Phases: a priming call on the cold relay (reported apart) → ramp (calls start one after another)
 * → warm-up → measuring window (latency of frames sent in it; CPU and RSS snapshots by the caller's
 * hooks; the caller cutting in once per call; probe calls, one at a time, timing `start` → first
 * greeting frame under the steady load) → drain (no new frames; in-flight ones land) → hang-up
 * (`stop`, close, and every upstream session must close).
 *
 * @module
 */

import process from "node:process";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { type BenchUpstream, type FakeUpstreamCounts, RealtimeBenchUpstream } from "./_realtime_upstream.ts";
import { LiveBenchUpstream } from "./_live_upstream.ts";
import {
  FRAME_MS,
  type FrameCounts,
  FrameLedger,
  framePayload,
  readFrameId,
  Samples,
  type Summary,
  UNKNOWN_CALL,
} from "../testing/frames.ts";
import { FakeTwilioCall } from "../testing/fake_twilio.ts";
import { postVoiceWebhook, streamSignature } from "../testing/twilio_webhook.ts";

/** Where the relay listens and how calls reach it. */
export interface LoadTarget {
  hostname: string;
  port: number;
  /** Path of the Media Stream socket. */
  path: string;
  /** Token the `X-Twilio-Signature` is computed with. */
  authToken: string;
  /** The public origin the relay checks signatures against. */
  publicBaseUrl: string;
  /**
   * The voice webhook, when the relay has one (Parley): each call posts it first, as Twilio does,
   * and opens the per-call stream URL it answers. Without it, every call uses `path`.
   */
  webhookPath?: string;
  /**
   * Post every webhook on a new connection, as a balancer sees Twilio's requests (a round-robin
   * proxy then spreads them); by default they share keep-alive connections.
   */
  freshConnections?: boolean;
  /**
   * Priming calls before the figures: 1 (the cold relay) by default; a cluster needs one or two per
   * instance, or its other instances compile their code paths under load. The first is the cold figure.
   */
  primingCalls?: number;
}

/** Shape and length of one run. */
export interface LoadPlan {
  calls: number;
  /** Calls start evenly over this many ms. */
  rampMs: number;
  warmupMs: number;
  durationMs: number;
  /** Time for in-flight frames to land after generation stops. @default 1000 */
  drainMs?: number;
  /** Scheduler granularity. @default 1 */
  tickMs?: number;
  /** Cut in on every call every this many ms; by default once per call inside the window. */
  interruptEveryMs?: number;
  /** Calls the `onSample` hook this often during the window (soak RSS). */
  sampleEveryMs?: number;
  /** Starts a probe call (start → greeting → hang up) this often during the window. @default 250 */
  probeEveryMs?: number;
  /** Which upstream the fake speaks; calls ask for `tester` or `tester_live`. @default "realtime" */
  engine?: "realtime" | "live";
  /** Drop each upstream session about this long after it opened (Realtime; the soak). */
  dropEveryMs?: number;
}

/** What the caller measures around the window, in the relay's process. */
export interface LoadHooks {
  /** After the priming call has hung up, before the ramp (the relay idle but warm). */
  primed?(): Promise<void>;
  /** Right before the window opens. */
  windowStart(): Promise<void>;
  /** Right after the window closes (calls still active). */
  windowEnd(): Promise<void>;
  /** Periodically during the window (`sampleEveryMs`), with ms since it opened. */
  sample?(elapsedMs: number): Promise<void>;
  /** One progress line. */
  progress?(line: string): void;
}

/** Everything one run measured on the load side. */
export interface LoadResult {
  calls: number;
  windowMs: number;
  up: { latencyMs: Summary; frames: FrameCounts };
  down: { latencyMs: Summary; frames: FrameCounts };
  /** The first call on the fresh relay (cold code paths, lazy module loading); not in the figures. */
  coldStartToGreetingMs: number;
  /** Probe calls started one at a time under the steady load: `start` sent → first agent frame. */
  startToGreetingMs: Summary;
  /** The probes' first half: `start` sent → `response.create` at the fake. */
  startToResponseCreateMs: Summary;
  /** The load's own calls, all started within the ramp. */
  rampStartToGreetingMs: Summary;
  /** The probes' signed voice webhooks under the steady load: POST sent → TwiML read, ms. */
  webhookMs: Summary;
  /** The load's own calls' webhooks, posted within the ramp. */
  rampWebhookMs: Summary;
  speechToClearMs: Summary;
  /** `speech_started` events sent, and `clear`s that answered them. */
  interruptions: { sent: number; cleared: number; unexpectedClears: number };
  marksEchoed: number;
  upstream: FakeUpstreamCounts & { openAfterHangup: number };
  /** Problems that fail the run (a call that failed, a socket left open). */
  failures: string[];
  /** Upstream drops on purpose (`dropEveryMs`): reconnect times, and caller frames sent in the gaps. */
  reconnects?: { drops: number; pending: number; ms: Summary; gapFrames: number };
  generator: { cpuMs: number; cpuPercent: number; tickLagP99Ms: number; rssMb: number };
}

const MEDIA_PREFIX = `{"event":"media"`;
const MARK_PREFIX = `{"event":"mark"`;
const CLEAR_PREFIX = `{"event":"clear"`;
const PAYLOAD_KEY = `"payload":"`;
const NAME_KEY = `"name":`;

class SimCall {
  readonly index: number;
  readonly callSid: string;
  readonly streamSid: string;
  /** The shared Twilio fake in lean mode (raw socket, Nagle off, messages unparsed). */
  twilio: FakeTwilioCall | undefined;
  /** The media socket's path (per call when the voice webhook issues it). */
  path = "";
  sending = false;
  nextUpDue = Infinity;
  startSentAt = NaN;
  greetingAt = NaN;
  speechAt: number | undefined;
  hangingUp = false;
  playheadEnd = 0;
  markDue: number[] = [];
  markNames: string[] = [];
  markHead = 0;
  #chunk = 0;
  readonly #mediaMid: string;
  readonly #markMid: string;

  readonly persona: string;

  constructor(index: number, persona: string) {
    this.index = index;
    this.persona = persona;
    const id = `${index.toString(16).padStart(8, "0")}${crypto.randomUUID().replaceAll("-", "").slice(8)}`;
    this.callSid = `CA${id}`;
    this.streamSid = `MZ${id}`;
    this.#mediaMid = `","streamSid":"${this.streamSid}","media":{"track":"inbound","chunk":"`;
    this.#markMid = `","streamSid":"${this.streamSid}","mark":{"name":`;
  }

  sendStart(): void {
    this.twilio!.connected();
    this.startSentAt = performance.now();
    this.twilio!.start({ persona: this.persona });
  }

  sendMedia(up: FrameLedger): void {
    const chunk = ++this.#chunk;
    const id = up.sent(performance.now());
    this.twilio!.sendRaw(
      `{"event":"media","sequenceNumber":"${
        this.twilio!.nextSequence()
      }${this.#mediaMid}${chunk}","timestamp":"${chunk * FRAME_MS}","payload":"${
        framePayload(id, this.index)
      }"}}`,
    );
  }

  echoMark(rawName: string): void {
    this.twilio!.sendRaw(
      `{"event":"mark","sequenceNumber":"${this.twilio!.nextSequence()}${this.#markMid}${rawName}}}`,
    );
  }

  sendStop(): void {
    this.twilio?.stop();
  }
}

/** One run of the load against one relay. Build it, start the relay on `fake.url`, then `run()`. */
export class LoadRun {
  /** The fake upstream the relay must be pointed at (Realtime or GPT-Live, as planned). */
  readonly fake: BenchUpstream;
  readonly #persona: string;
  readonly #plan: LoadPlan;
  readonly #up = new FrameLedger();
  readonly #down = new FrameLedger();
  readonly #calls: SimCall[] = [];
  readonly #rampGreeting = new Samples();
  readonly #rampWebhook = new Samples();
  readonly #probeWebhook = new Samples();
  #client: Deno.HttpClient | undefined;
  readonly #probeGreeting = new Samples();
  readonly #probeStartToCreate = new Samples();
  readonly #clearLatency = new Samples();
  readonly #tickLag = new Samples();
  readonly #failures: string[] = [];
  readonly #epoch = performance.now();
  #interruptionsSent = 0;
  #unexpectedClears = 0;
  #marksEchoed = 0;
  #measuringLag = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;

  /** Prepares the run and starts the fake upstream. */
  constructor(plan: LoadPlan) {
    this.#plan = plan;
    const live = plan.engine === "live";
    this.#persona = live ? "tester_live" : "tester";
    this.fake = (live ? LiveBenchUpstream : RealtimeBenchUpstream).start({
      up: this.#up,
      down: this.#down,
      calls: plan.calls,
      ...(plan.dropEveryMs === undefined ? {} : { dropEveryMs: plan.dropEveryMs }),
      onSpeechStarted: (call, at) => {
        this.#interruptionsSent++;
        const sim = this.#calls[call];
        if (sim !== undefined) sim.speechAt = at;
      },
    });
  }

  /** Runs every phase against `target`; resolves with the figures. Never leaves a socket open. */
  async run(target: LoadTarget, hooks: LoadHooks): Promise<LoadResult> {
    const plan = this.#plan;
    const say = hooks.progress ?? (() => {});
    const drainMs = plan.drainMs ?? 1_000;
    const signature = getExpectedTwilioSignature(
      target.authToken,
      `${target.publicBaseUrl.replace(/^https:/, "wss:")}${target.path}`,
      {},
    );
    this.#startTicking();
    if (target.freshConnections === true) this.#client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    try {
      const primingCalls = Math.max(1, target.primingCalls ?? 1);
      say(
        `${primingCalls === 1 ? "one priming call" : `${primingCalls} priming calls`} (not in the figures)`,
      );
      const cold = await this.#probe(target, signature);
      if (cold === undefined) this.#fail("priming call: no greeting frame within 10 s");
      for (let i = 1; i < primingCalls; i++) {
        if (await this.#probe(target, signature) === undefined) {
          this.#fail(`priming call ${i + 1}: no greeting frame within 10 s`);
        }
      }
      await hooks.primed?.();
      say(`ramp ${plan.calls} calls over ${plan.rampMs} ms`);
      const spacing = plan.calls > 1 ? plan.rampMs / (plan.calls - 1) : 0;
      const rampStart = performance.now();
      const connecting: Promise<void>[] = [];
      for (let i = 0; i < plan.calls; i++) {
        const wait = rampStart + i * spacing - performance.now();
        if (wait > 0) await sleep(wait);
        connecting.push(this.#startCall(i, target, signature));
      }
      await Promise.all(connecting);

      say(`warm-up ${plan.warmupMs} ms`);
      await sleep(plan.warmupMs);
      for (const call of this.#calls) {
        if (Number.isNaN(call.greetingAt) && call.twilio !== undefined) {
          this.#fail(`call ${call.index}: no greeting frame within the warm-up`);
        }
      }

      say(`measuring ${plan.durationMs} ms`);
      await hooks.windowStart();
      const cpuBefore = process.cpuUsage();
      const windowStart = performance.now();
      this.#up.setWindow(windowStart);
      this.#down.setWindow(windowStart);
      this.#measuringLag = true;
      const every = plan.interruptEveryMs;
      this.fake.planSpeech(
        every === undefined
          ? (call) => windowStart + plan.durationMs * (0.1 + (0.8 * (call + 0.5)) / plan.calls)
          : (call) => windowStart + (every * (call + 0.5)) / plan.calls,
        every,
      );
      const sampling = this.#sampleDuring(windowStart, plan, hooks);
      const probing = this.#probeDuring(windowStart, target, signature);
      await sleep(windowStart + plan.durationMs - performance.now());
      const windowEnd = performance.now();
      this.#up.endWindow(windowEnd);
      this.#down.endWindow(windowEnd);
      this.#measuringLag = false;
      const cpu = process.cpuUsage(cpuBefore);
      await sampling;
      await hooks.windowEnd();
      await probing;
      const windowMs = windowEnd - windowStart;

      if (plan.dropEveryMs !== undefined) {
        // No new drop; the last ones get the 2 s a reconnect may take, with callers still talking.
        this.fake.dropping = false;
        await sleep(2_500);
      }
      say(`drain ${drainMs} ms`);
      for (const call of this.#calls) call.sending = false;
      this.fake.generating = false;
      await sleep(drainMs);
      for (const call of this.#calls) {
        if (call.speechAt !== undefined) this.#fail(`call ${call.index}: no clear after speech_started`);
      }

      say("hang-up");
      await this.#hangUp();
      const cpuMs = (cpu.user + cpu.system) / 1000;
      return {
        calls: plan.calls,
        windowMs,
        coldStartToGreetingMs: cold?.greetingMs ?? NaN,
        up: { latencyMs: this.#up.latency.summary(), frames: this.#up.counts() },
        down: { latencyMs: this.#down.latency.summary(), frames: this.#down.counts() },
        startToGreetingMs: this.#probeGreeting.summary(),
        startToResponseCreateMs: this.#probeStartToCreate.summary(),
        rampStartToGreetingMs: this.#rampGreeting.summary(),
        webhookMs: this.#probeWebhook.summary(),
        rampWebhookMs: this.#rampWebhook.summary(),
        speechToClearMs: this.#clearLatency.summary(),
        interruptions: {
          sent: this.#interruptionsSent,
          cleared: this.#clearLatency.count,
          unexpectedClears: this.#unexpectedClears,
        },
        marksEchoed: this.#marksEchoed,
        upstream: { ...this.fake.counts, openAfterHangup: this.fake.openSessions },
        failures: this.#failures,
        ...(this.fake.reconnects === undefined || plan.dropEveryMs === undefined ? {} : {
          reconnects: {
            drops: this.fake.reconnects.drops,
            pending: this.fake.reconnects.pending,
            ms: this.fake.reconnects.ms.summary(),
            // Caller audio in a gap is dropped on purpose: up to one frame per 20 ms of gap, plus one.
            gapFrames: this.fake.reconnects.ms.values().reduce(
              (sum, ms) => sum + Math.ceil(ms / FRAME_MS) + 1,
              0,
            ),
          },
        }),
        generator: {
          cpuMs,
          cpuPercent: (100 * cpuMs) / windowMs,
          tickLagP99Ms: this.#tickLag.summary().p99,
          rssMb: process.memoryUsage.rss() / 2 ** 20,
        },
      };
    } finally {
      this.#running = false;
      clearTimeout(this.#timer);
      for (const call of this.#calls) call.twilio?.close();
      await Promise.all(this.#calls.map((call) => call.twilio?.closed));
      await this.fake.close();
      this.#client?.close();
    }
  }

  /**
   * The stream path and signature of `call`: from the voice webhook when the target has one (its
   * time goes to `timed`).
   */
  async #streamFor(
    target: LoadTarget,
    call: SimCall,
    signature: string,
    timed: Samples,
  ): Promise<{ path: string; signature: string }> {
    if (target.webhookPath === undefined) return { path: target.path, signature };
    const posted = performance.now();
    const { status, streamUrl } = await postVoiceWebhook(
      target,
      call.callSid,
      target.webhookPath,
      this.#client,
    );
    timed.add(performance.now() - posted);
    if (streamUrl === undefined) throw new Error(`the voice webhook answered no stream (${status})`);
    return { path: new URL(streamUrl).pathname, signature: streamSignature(target, streamUrl) };
  }

  #fail(problem: string): void {
    this.#failures.push(problem);
  }

  /**
   * One probe call: open, `start`, wait for the greeting, hang up. Resolves with its start → first
   * frame time and the part until `response.create` reached the fake, or undefined without a
   * greeting within 10 s. Used once before the load (the cold relay) and repeatedly under it.
   */
  async #probe(
    target: LoadTarget,
    signature: string,
    webhookTimes: Samples = new Samples(),
  ): Promise<{ greetingMs: number; startToCreateMs: number } | undefined> {
    const call = new SimCall(UNKNOWN_CALL, this.#persona);
    let greeted!: (frame: { at: number; id: number }) => void;
    const greeting = new Promise<{ at: number; id: number }>((resolve) => greeted = resolve);
    this.fake.expectProbe(call.callSid);
    try {
      ({ path: call.path, signature } = await this.#streamFor(target, call, signature, webhookTimes));
      call.twilio = await FakeTwilioCall.connectRaw({
        hostname: target.hostname,
        port: target.port,
        path: call.path,
        headers: { "X-Twilio-Signature": signature },
        callSid: call.callSid,
        streamSid: call.streamSid,
        onText: (text, at) => {
          if (!text.startsWith(MEDIA_PREFIX)) return;
          greeted({ at, id: readFrameId(text, text.indexOf(PAYLOAD_KEY) + PAYLOAD_KEY.length) });
        },
        onClose: () => greeted({ at: NaN, id: -1 }),
      });
    } catch (error) {
      this.#fail(`probe call: cannot open the media socket: ${(error as Error).message}`);
      return undefined;
    }
    call.sendStart();
    const frame = await withTimeout(greeting, 10_000);
    call.hangingUp = true;
    call.sendStop();
    call.twilio.close();
    await call.twilio.closed;
    if (frame === undefined || Number.isNaN(frame.at)) return undefined;
    const requested = this.fake.probeGreetingRequests.get(frame.id) ?? NaN;
    return { greetingMs: frame.at - call.startSentAt, startToCreateMs: requested - call.startSentAt };
  }

  /** Starts probe calls one after another through the window. */
  async #probeDuring(windowStart: number, target: LoadTarget, signature: string): Promise<void> {
    const every = this.#plan.probeEveryMs ?? 250;
    for (let at = every / 2; at < this.#plan.durationMs; at += every) {
      await sleep(windowStart + at - performance.now());
      const probe = await this.#probe(target, signature, this.#probeWebhook);
      if (probe === undefined) {
        this.#fail("probe call: no greeting frame within 10 s");
        continue;
      }
      this.#probeGreeting.add(probe.greetingMs);
      if (!Number.isNaN(probe.startToCreateMs)) this.#probeStartToCreate.add(probe.startToCreateMs);
    }
  }

  async #startCall(index: number, target: LoadTarget, signature: string): Promise<void> {
    const call = new SimCall(index, this.#persona);
    this.#calls[index] = call;
    try {
      ({ path: call.path, signature } = await this.#streamFor(target, call, signature, this.#rampWebhook));
      call.twilio = await FakeTwilioCall.connectRaw({
        hostname: target.hostname,
        port: target.port,
        path: call.path,
        headers: { "X-Twilio-Signature": signature },
        callSid: call.callSid,
        streamSid: call.streamSid,
        onText: (text, at) => this.#onText(call, text, at),
        onClose: () => {
          call.sending = false;
          if (!call.hangingUp) this.#fail(`call ${index}: media socket closed before hang-up`);
        },
      });
    } catch (error) {
      this.#fail(`call ${index}: cannot open the media socket: ${(error as Error).message}`);
      return;
    }
    call.sendStart();
    // Caller audio from the next grid point of this call's phase on.
    const phase = (index * FRAME_MS) / this.#plan.calls;
    const since = performance.now() - this.#epoch - phase;
    call.nextUpDue = this.#epoch + phase + (Math.floor(since / FRAME_MS) + 1) * FRAME_MS;
    call.sending = true;
  }

  #onText(call: SimCall, text: string, at: number): void {
    if (text.startsWith(MEDIA_PREFIX)) {
      const start = text.indexOf(PAYLOAD_KEY) + PAYLOAD_KEY.length;
      const end = text.indexOf('"', start);
      return this.#onMedia(call, readFrameId(text, start), end - start, at);
    }
    if (text.startsWith(MARK_PREFIX)) {
      const name = text.slice(text.indexOf(NAME_KEY) + NAME_KEY.length, text.length - 2);
      if (name.startsWith('"') && name.endsWith('"')) return this.#onMark(call, name, at);
    }
    if (text.startsWith(CLEAR_PREFIX)) return this.#onClear(call, at);
    // Anything laid out differently: parse it properly.
    let message: { event?: string; media?: { payload?: string }; mark?: { name?: string } };
    try {
      message = JSON.parse(text);
    } catch {
      this.#fail(`call ${call.index}: unparsable message from the relay: ${text.slice(0, 80)}`);
      return;
    }
    if (message.event === "media" && typeof message.media?.payload === "string") {
      this.#onMedia(call, readFrameId(message.media.payload, 0), message.media.payload.length, at);
    } else if (message.event === "mark" && typeof message.mark?.name === "string") {
      this.#onMark(call, JSON.stringify(message.mark.name), at);
    } else if (message.event === "clear") {
      this.#onClear(call, at);
    }
  }

  #onMedia(call: SimCall, id: number, base64Length: number, at: number): void {
    this.#down.arrived(id, at);
    if (Number.isNaN(call.greetingAt)) {
      call.greetingAt = at;
      this.#rampGreeting.add(at - call.startSentAt);
    }
    const ms = ((base64Length / 4) * 3) / 8; // padding ignored: under 0.25 ms
    call.playheadEnd = Math.max(at, call.playheadEnd) + ms;
  }

  #onMark(call: SimCall, rawName: string, at: number): void {
    call.markDue.push(Math.max(at, call.playheadEnd));
    call.markNames.push(rawName);
  }

  #onClear(call: SimCall, at: number): void {
    call.playheadEnd = at;
    // Twilio echoes every pending mark at once after a clear.
    while (call.markHead < call.markNames.length) {
      call.echoMark(call.markNames[call.markHead++]!);
      this.#marksEchoed++;
    }
    call.markDue = [];
    call.markNames = [];
    call.markHead = 0;
    if (call.speechAt === undefined) {
      this.#unexpectedClears++;
      return;
    }
    this.#clearLatency.add(at - call.speechAt);
    call.speechAt = undefined;
  }

  #startTicking(): void {
    const tickMs = this.#plan.tickMs ?? 1;
    this.#running = true;
    let due = performance.now();
    const tick = () => {
      if (!this.#running) return;
      const now = performance.now();
      if (this.#measuringLag) this.#tickLag.add(now - due);
      this.#tickCalls(now);
      this.fake.tick(now);
      due += tickMs;
      if (due < now) due = now + tickMs;
      this.#timer = setTimeout(tick, Math.max(0, due - performance.now()));
    };
    this.#timer = setTimeout(tick, 0);
  }

  #tickCalls(now: number): void {
    for (const call of this.#calls) {
      if (call === undefined) continue;
      // Like Twilio's media server, each call works on its own 20 ms clock: at each of its ticks
      // it echoes the marks playback has reached and sends the caller's next frame, in one write.
      const onTick = call.sending ? call.nextUpDue <= now : true;
      if (onTick && call.markHead < call.markDue.length && call.twilio?.open) {
        while (call.markHead < call.markDue.length && call.markDue[call.markHead]! <= now) {
          call.echoMark(call.markNames[call.markHead++]!);
          this.#marksEchoed++;
        }
        if (call.markHead > 256) {
          call.markDue = call.markDue.slice(call.markHead);
          call.markNames = call.markNames.slice(call.markHead);
          call.markHead = 0;
        }
      }
      if (call.sending) {
        while (call.nextUpDue <= now) {
          call.sendMedia(this.#up);
          call.nextUpDue += FRAME_MS;
        }
      }
    }
  }

  async #sampleDuring(windowStart: number, plan: LoadPlan, hooks: LoadHooks): Promise<void> {
    if (plan.sampleEveryMs === undefined || hooks.sample === undefined) return;
    for (let at = plan.sampleEveryMs; at < plan.durationMs; at += plan.sampleEveryMs) {
      await sleep(windowStart + at - performance.now());
      await hooks.sample(performance.now() - windowStart);
    }
  }

  async #hangUp(): Promise<void> {
    for (const call of this.#calls) {
      call.hangingUp = true;
      call.sendStop();
      call.twilio?.close();
    }
    await withTimeout(Promise.all(this.#calls.map((call) => call.twilio?.closed)), 5_000);
    const deadline = performance.now() + 5_000;
    while (this.fake.openSessions > 0 && performance.now() < deadline) await sleep(20);
    const open = this.fake.openSessions;
    if (open > 0) this.#fail(`${open} upstream socket(s) still open 5 s after their calls hung up`);
    const refused = this.fake.refusedEvents ?? 0;
    if (refused > 0) this.#fail(`the fake refused ${refused} client event(s) the real server would refuse`);
  }
}

/** Waits `ms` (at least 0). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Resolves when `promise` settles or after `ms`, whichever is first. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
