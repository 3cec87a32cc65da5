/**
 * The simulated caller: a second OpenAI session (Realtime or GPT-Live, through the same engine
 * modules and `npm:ws` socket as a call's agent) bridged to a {@linkcode VirtualPhone}, `audio/pcmu`
 * both ways so nothing is transcoded. What the phone plays (the agent) goes up as the caller session's
 * input; what the caller session says goes out on the phone line in 20 ms frames.
 *
 * The caller has two tools: `hang_up` (the call ends once its last words were sent) and
 * `press_keys` (DTMF). When the agent talks over the caller, the caller stops and its session is
 * truncated where the line stopped, as the relay does for the agent.
 *
 * @module
 */

import type { EngineEvent, SessionPlan, ToolSpec } from "../engines/engine.ts";
import type { PriceTable } from "../engines/prices.ts";
import { ENGINE_REGISTRY, engineForModel } from "../engines/registry.ts";
import type { EngineUsage } from "../engines/usage.ts";
import type { EngineChooser } from "../engines/registry.ts";
import type { UpstreamConnector } from "../engines/upstream_socket.ts";
import { UpstreamSession } from "../relay/upstream_session.ts";
import type { VirtualPhone } from "./virtual_phone.ts";

/** The tools the caller session may call. */
export const CALLER_TOOLS: readonly ToolSpec[] = [
  {
    name: "hang_up",
    description: "Hang up the phone. Call it after your goodbye, or when you would hang up in real life.",
    parameters: { type: "object", properties: {}, additionalProperties: false },
  },
  {
    name: "press_keys",
    description: "Press keys on the phone's keypad, e.g. when asked to press 1.",
    parameters: {
      type: "object",
      properties: { digits: { type: "string", description: "Keys to press: 0-9, * and #" } },
      required: ["digits"],
      additionalProperties: false,
    },
  },
];

/** What frames the scenario's caller instructions for the caller session. */
export function callerInstructions(who: string): string {
  return `You are a person on a phone call with a company's voice agent. This is a rehearsal: the agent ` +
    `does not know it. Stay in character the whole call and speak only as this person, in short natural ` +
    `turns, as people do on the phone. Never say you are an AI or that this is a test.\n\n` +
    `Who you are and what you want:\n${who}\n\n` +
    `When the conversation is over, say goodbye and call hang_up. If you are asked to press a key, call ` +
    `press_keys.`;
}

/** What a bridge needs. */
export interface CallerBridgeOptions {
  engineFor: EngineChooser;
  model: string;
  voice: string;
  /** The scenario's caller instructions. */
  who: string;
  apiKey: string;
  connect: UpstreamConnector;
  prices: PriceTable;
}

/** What the caller session did. */
export interface CallerSessionReport {
  /** USD of the caller session, or null when its model has no price. */
  costUsd: number | null;
  /** Why the caller session ended before the call, if it did. */
  failure: string | undefined;
  /** Keys the caller pressed. */
  keysPressed: string;
}

/** A caller session bridged to one phone call. */
export class CallerBridge {
  readonly #session: UpstreamSession;
  readonly #options: CallerBridgeOptions;
  #phone: VirtualPhone | undefined;
  /** USD of the reports that add up (one answer's tokens). */
  #cost = 0;
  /** USD of the latest cumulative report (session minutes so far). */
  #totalCost = 0;
  #unpriced = false;
  #failure: string | undefined;
  #keys = "";
  /** The caller's answer being spoken: its ids and how much of it went to the line, bytes. */
  #speaking: { responseId: string; itemId: string; bytes: number } | undefined;
  #activeResponse: string | undefined;
  #hangUpWhenQuiet = false;

  /** Opens the caller session at once (it waits for the agent to speak first). */
  constructor(options: CallerBridgeOptions) {
    this.#options = options;
    const engine = options.engineFor(options.model);
    this.#session = new UpstreamSession({
      engine,
      model: options.model,
      apiKey: options.apiKey,
      connect: options.connect,
      now: () => performance.now(),
      handlers: {
        onOpen() {},
        onEvent: (event) => this.#onEvent(event),
        onEnd: (_reason, detail) => {
          this.#failure ??= `the caller session ended: ${detail}`;
          this.#phone?.hangUp();
        },
      },
    });
    const plan: SessionPlan = {
      persona: { voice: options.voice },
      model: options.model,
      instructions: callerInstructions(options.who),
      voice: options.voice,
      greeting: undefined,
      history: [],
      tools: CALLER_TOOLS,
    };
    this.#session.configure(engine.opening(plan));
  }

  /**
   * Connects the phone: what it plays reaches the caller session. When the caller session already
   * failed (refused while the phone was dialling), hangs up at once: no one would ever speak.
   */
  attach(phone: VirtualPhone): void {
    this.#phone = phone;
    if (this.#failure !== undefined) phone.hangUp();
  }

  /** 20 ms of the agent's audio, as the phone plays it. */
  hear(payload: string): void {
    this.#session.sendAudio(payload);
  }

  /** Called every frame by the runner: hangs up once the goodbye has gone out. */
  tick(): void {
    if (this.#hangUpWhenQuiet && this.#phone?.quiet()) this.#phone.hangUp();
  }

  /** Closes the caller session and says what it did. */
  async close(): Promise<CallerSessionReport> {
    this.#session.close();
    await this.#session.closed;
    return {
      costUsd: this.#unpriced ? null : this.#cost + this.#totalCost,
      failure: this.#failure,
      keysPressed: this.#keys,
    };
  }

  /** Prices a usage report by its engine's own rules, as the call record does (`priceUsage`). */
  #addUsage(usage: EngineUsage): void {
    const model = this.#session.model;
    const engine = engineForModel(model);
    const summary = ENGINE_REGISTRY.describeUsage(engine, usage);
    const cost = ENGINE_REGISTRY.priceUsage(engine, model, usage, this.#options.prices);
    if (cost === null || summary.problem !== undefined) this.#unpriced = true;
    else if (summary.cost === "total") this.#totalCost = cost;
    else this.#cost += cost;
  }

  #onEvent(event: EngineEvent): void {
    const engine = this.#session.engine;
    switch (event.type) {
      case "agent.audio": // the caller session speaking
        if (this.#speaking?.itemId !== event.itemId) {
          this.#speaking = { responseId: event.responseId, itemId: event.itemId, bytes: 0 };
        }
        this.#speaking.bytes += (event.delta.length * 3) / 4;
        this.#phone?.say(event.delta);
        break;
      case "response.started":
        this.#activeResponse = event.responseId;
        break;
      case "response.done":
        if (this.#activeResponse === event.responseId) this.#activeResponse = undefined;
        if (event.usage !== undefined) this.#addUsage(event.usage);
        break;
      case "usage":
        this.#addUsage(event.usage);
        break;
      case "caller.started": {
        // The agent talks over the caller: the caller stops where the line stopped.
        const speaking = this.#speaking;
        const dropped = this.#phone?.stopTalking() ?? 0;
        if (speaking !== undefined && dropped > 0 && engine.capabilities.truncates) {
          const heardMs = Math.max(0, Math.floor((speaking.bytes - dropped) / 8));
          const cut = [{ itemId: speaking.itemId, responseId: speaking.responseId, heardMs }];
          for (const message of engine.interruption(cut, this.#activeResponse)) this.#session.send(message);
        }
        this.#speaking = undefined;
        break;
      }
      case "tool.call":
        this.#onTool(event.callId, event.name, event.arguments);
        break;
      case "error":
        if (event.endsCall !== undefined) {
          this.#failure ??= `the caller session failed: ${event.endsCall}`;
          this.#phone?.hangUp();
        }
        break;
    }
  }

  #onTool(callId: string, name: string, args: string): void {
    const engine = this.#session.engine;
    if (name === "hang_up") {
      this.#hangUpWhenQuiet = true;
      this.tick();
      return;
    }
    let output = { ok: false, error: `no tool ${name}` } as Record<string, unknown>;
    if (name === "press_keys") {
      let digits = "";
      try {
        digits = String(JSON.parse(args).digits ?? "").replace(/[^0-9*#]/g, "");
      } catch {
        digits = "";
      }
      this.#keys += digits;
      this.#phone?.pressKeys(digits);
      output = digits === ""
        ? { ok: false, error: "no keys: give digits 0-9, * or #" }
        : { ok: true, pressed: digits };
    }
    this.#session.send(engine.toolOutput(callId, JSON.stringify(output)));
    this.#session.send(engine.continueMessage());
  }
}
