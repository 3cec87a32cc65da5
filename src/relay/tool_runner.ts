/**
 * Runs the agent's calls of persona tools: parses and checks the arguments, runs the tool with a
 * time limit, runs each call id once, and always produces an output the model can speak about.
 *
 * Engine-agnostic: an engine turns its wire events into a {@linkcode ToolCallRequest} and the
 * {@linkcode ToolOutcome}'s `output` back into its own `function_call_output`.
 *
 * @module
 */

import type { PersonaTool, ToolCallContext } from "../personas/tools.ts";
import { errorText } from "../log.ts";

/** One call of a tool by the model. */
export interface ToolCallRequest {
  /** The engine's call id; a repeated id is not run again. */
  callId: string;
  /** The tool's name as the model gave it. */
  name: string;
  /** The arguments as the model streamed them: a JSON text. */
  arguments: string;
}

/** What came of one call; `output` is the JSON text to give back to the model. */
export interface ToolOutcome {
  callId: string;
  name: string;
  /** `ok`, or why the model is being told it failed. */
  status: "ok" | "bad_arguments" | "unknown_tool" | "failed" | "timed_out";
  /** The function output for the model: the tool's result, or `{"error":"…"}`. */
  output: string;
  /** Time spent in the tool, ms. */
  durationMs: number;
}

/** Collaborators of {@linkcode ToolRunner}. */
export interface ToolRunnerOptions {
  /** What each `run` receives besides its arguments (the signal is made per call). */
  context: Omit<ToolCallContext, "signal">;
  /** Monotonic clock, ms. @default performance.now */
  now?: () => number;
}

/** The default time a tool may take. */
export const DEFAULT_TOOL_TIMEOUT_MS = 10_000;

/**
 * Runs one call's persona tools.
 *
 * @example
 * ```ts
 * const runner = new ToolRunner(persona.tools ?? [], { context });
 * const outcome = await runner.run({ callId: "call_1", name: "lookup_order", arguments: '{"id":"42"}' });
 * if (outcome !== undefined) session.sendToolOutput(outcome.callId, outcome.output);
 * ```
 */
export class ToolRunner {
  readonly #tools: Map<string, PersonaTool>;
  readonly #options: ToolRunnerOptions;
  readonly #seen = new Set<string>();
  readonly #calls = new AbortController();

  constructor(tools: readonly PersonaTool[], options: ToolRunnerOptions) {
    this.#tools = new Map(tools.map((tool) => [tool.name, tool]));
    this.#options = options;
  }

  /** Whether `name` is one of this persona's tools. */
  has(name: string): boolean {
    return this.#tools.has(name);
  }

  /** Runs the call; undefined when this call id already ran (the engine repeated an event). */
  async run(request: ToolCallRequest): Promise<ToolOutcome | undefined> {
    if (this.#seen.has(request.callId)) return undefined;
    this.#seen.add(request.callId);
    const now = this.#options.now ?? (() => performance.now());
    const startedAt = now();
    const outcome = (status: ToolOutcome["status"], output: string): ToolOutcome => ({
      callId: request.callId,
      name: request.name,
      status,
      output,
      durationMs: Math.round(now() - startedAt),
    });

    const tool = this.#tools.get(request.name);
    if (tool === undefined) {
      return outcome("unknown_tool", errorOutput(`there is no tool named "${request.name}"`));
    }
    const args = parseArguments(request.arguments, tool);
    if (typeof args === "string") return outcome("bad_arguments", errorOutput(args));
    if (this.#calls.signal.aborted) {
      return outcome("failed", errorOutput("the call ended before the tool ran"));
    }

    const timeoutMs = tool.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onCallEnd: (() => void) | undefined;
    const stopped = new Promise<"timeout" | "call_ended">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
      onCallEnd = () => resolve("call_ended");
      if (this.#calls.signal.aborted) onCallEnd();
      else this.#calls.signal.addEventListener("abort", onCallEnd, { once: true });
    });
    try {
      const result = await Promise.race([
        Promise.resolve().then(() => tool.run(args, { ...this.#options.context, signal: abort.signal })),
        stopped,
      ]);
      if (result === "timeout") {
        abort.abort(new Error("timed out"));
        return outcome("timed_out", errorOutput(`the tool did not answer within ${timeoutMs} ms`));
      }
      if (result === "call_ended") {
        abort.abort(new Error("the call ended"));
        return outcome("failed", errorOutput("the call ended before the tool answered"));
      }
      return outcome("ok", resultOutput(result));
    } catch (error) {
      return outcome("failed", errorOutput(errorText(error)));
    } finally {
      clearTimeout(timer);
      this.#calls.signal.removeEventListener("abort", onCallEnd!);
    }
  }

  /** The call ended: tools still running see their signal abort. */
  close(): void {
    // A reason of our own: the default one is a DOMException, whose stack is captured at every call's end.
    this.#calls.abort(CALL_ENDED);
  }
}

/** Why the call's tools were stopped (never shown: each tool's own signal carries its reason). */
const CALL_ENDED = new Error("the call ended");

/** The arguments as an object, or why they cannot be used. */
function parseArguments(text: string, tool: PersonaTool): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    return "the arguments are not valid JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "the arguments must be a JSON object";
  }
  const args = value as Record<string, unknown>;
  const missing = (tool.parameters?.required ?? []).filter((name) => args[name] === undefined);
  if (missing.length > 0) {
    return `missing required argument${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}`;
  }
  return args;
}

function errorOutput(message: string): string {
  return JSON.stringify({ error: message });
}

/** A tool's result as JSON text; `undefined` becomes `{"ok":true}` so the model always hears back. */
function resultOutput(result: unknown): string {
  if (result === undefined) return '{"ok":true}';
  if (typeof result === "string") return JSON.stringify({ result });
  try {
    return JSON.stringify(result) ?? '{"ok":true}';
  } catch {
    return errorOutput("the tool's result could not be turned into JSON");
  }
}
