/**
 * What a stream's `start` decides: the persona (the `persona` parameter, else the default), the
 * model and so the engine, the voice (the call's `voice` parameter when the engine has that voice,
 * else the persona's) and the instructions rendered for this call.
 *
 * @module
 */

import type { Engine, SessionPlan } from "../engines/engine.ts";
import type { EngineChooser, EngineId } from "../engines/registry.ts";
import { renderInstructions } from "../personas/loader.ts";
import type { LoadedPersona, Persona, PersonaRegistry } from "../personas/types.ts";
import type { StreamStart } from "../twilio/media_stream.ts";
import { offeredTools } from "./built_in_tools.ts";

/** What {@linkcode planCall} needs. */
export interface CallSetupOptions {
  personas: PersonaRegistry;
  /** Persona used when the stream names none (or an unknown one). */
  defaultPersona: string;
  /** Model used unless the persona names one. */
  defaultModel: string;
  engineFor: EngineChooser;
}

/** A call ready to be configured upstream. */
export interface CallSetup {
  ok: true;
  persona: LoadedPersona;
  /** The persona id the stream asked for (differs from `persona.id` when unknown). */
  requested: string;
  engine: Engine<EngineId>;
  plan: SessionPlan;
}

/**
 * Decides how `start` is served, or says in plain words why it cannot be.
 *
 * @example
 * ```ts
 * const setup = planCall(start, { personas, defaultPersona: "alex", defaultModel, engineFor });
 * if (!setup.ok) end("error", setup.problem);
 * ```
 */
export function planCall(
  start: StreamStart,
  options: CallSetupOptions,
): CallSetup | { ok: false; problem: string } {
  const requested = start.customParameters.persona ?? options.defaultPersona;
  const persona = options.personas.get(requested) ?? options.personas.get(options.defaultPersona);
  if (persona === undefined) {
    return { ok: false, problem: `default persona "${options.defaultPersona}" is not loaded` };
  }
  const model = persona.persona.model ?? options.defaultModel;
  const engine = options.engineFor(model);
  let instructions: string;
  try {
    instructions = renderInstructions(persona, {
      parameters: start.customParameters,
      callSid: start.callSid,
      streamSid: start.streamSid,
    });
  } catch (error) {
    return { ok: false, problem: (error as Error).message };
  }
  // Each engine's own limits (GPT-Live: the instructions' length); persona validation checks a plain
  // string, but a function's result is only known now.
  const tooLong = engine.instructionsProblem(instructions);
  if (tooLong !== undefined) return { ok: false, problem: `${persona.file}: instructions: ${tooLong}` };
  const asked = start.customParameters.voice;
  // A voice the engine lacks (a stale link, a hand-made stream) falls back to the persona's.
  const voice = asked !== undefined && engine.capabilities.voices.includes(asked)
    ? asked
    : persona.persona.voice;
  return {
    ok: true,
    persona,
    requested,
    engine,
    plan: {
      persona: persona.persona,
      model,
      instructions,
      voice,
      greeting: greetingWithDisclosure(persona.persona),
      history: [],
      tools: offeredTools(persona.persona),
    },
  };
}

/**
 * The StreamSid a webhook's plan is rendered with (the stream has not started): a plan whose
 * instructions contain it depends on the real one, and is made again at `start`.
 */
export const STREAM_NOT_STARTED = "MZ-stream-not-started";

/** A call planned on the voice webhook, carried to its stream's `start` (see `prewarm.ts`). */
export interface CarriedPlan {
  setup: CallSetup;
  /** The stream parameters the webhook's TwiML carries. */
  parameters: Readonly<Record<string, string>>;
}

/**
 * Plans `callSid` on the voice webhook as its `start` will (the StreamSid is not known yet), or
 * undefined when it cannot be planned (`start` will say why).
 */
export function planOnWebhook(
  callSid: string,
  parameters: Record<string, string>,
  options: CallSetupOptions,
): CarriedPlan | undefined {
  const start = { callSid, streamSid: STREAM_NOT_STARTED, accountSid: "", customParameters: parameters };
  const setup = planCall(start, options);
  return setup.ok ? { setup, parameters: { ...parameters } } : undefined;
}

/**
 * True when `start` would plan the call exactly as the webhook did: the same parameters, the same
 * persona still loaded (not reloaded since), and instructions that do not name the StreamSid.
 */
export function carriedPlanServes(
  carried: CarriedPlan,
  start: StreamStart,
  options: CallSetupOptions,
): boolean {
  const asked = start.customParameters;
  const keys = Object.keys(carried.parameters);
  if (keys.length !== Object.keys(asked).length || keys.some((k) => asked[k] !== carried.parameters[k])) {
    return false;
  }
  const { setup } = carried;
  const persona = options.personas.get(setup.requested) ?? options.personas.get(options.defaultPersona);
  return persona === setup.persona && !setup.plan.instructions.includes(STREAM_NOT_STARTED);
}

/**
 * True when two plans configure the same session: the same persona (as loaded), engine, model, voice
 * and instructions (greeting, tools and settings come with the persona).
 */
export function samePlan(a: CallSetup, b: CallSetup): boolean {
  return a.persona === b.persona && a.engine === b.engine && a.plan.model === b.plan.model &&
    a.plan.voice === b.plan.voice && a.plan.instructions === b.plan.instructions;
}

/**
 * The model to open the upstream with before `start` names the persona: the default persona's (most
 * calls use it), so a GPT-Live default persona gets its GPT-Live socket as early as Realtime's.
 */
export function expectedModel(options: CallSetupOptions): string {
  return options.personas.get(options.defaultPersona)?.persona.model ?? options.defaultModel;
}

/**
 * The persona's greeting; for a recorded call with a `recordingDisclosure`, preceded by the
 * instruction to say that line first, word for word.
 */
export function greetingWithDisclosure(persona: Persona): string | undefined {
  const { greeting, record, recordingDisclosure } = persona;
  if (greeting === undefined || record !== true || recordingDisclosure === undefined) return greeting;
  return `Begin by saying, word for word: ${JSON.stringify(recordingDisclosure)}. Then: ${greeting}`;
}
