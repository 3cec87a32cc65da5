/**
 * The GPT-Live `session.start` event: the first message on the primary WebSocket, built from a
 * persona and the call. GPT-Live refuses unknown fields, so this sends exactly what npm
 * `openai@7.57.0` `SessionConfig` defines:
 * - `model` (in the event, never in the URL), `instructions` (rendered; ≤ 16,384 tokens, immutable);
 * - `audio.format {type:"audio/pcmu", rate:8000}`: Twilio's μ-law passes through untouched both ways;
 * - `audio.output.voice` (immutable after start; default marin);
 * - `input`: optional text-only history (developer/user/assistant, one text part each, at most 128
 *   messages and 8,192 rendered tokens by default): how a new session gets the conversation so far;
 * - `delegation`: optional Responses backend with function tools.
 * No turn detection, VAD, truncation or token settings exist: the model owns turn-taking.
 *
 * @module
 */

/**
 * GPT-Live's primary WebSocket. It takes no query parameters (the model goes in `session.start`)
 * and authenticates with `Authorization: Bearer <key>`.
 */
export const DEFAULT_LIVE_URL = "wss://api.openai.com/v1/live/sessions";

/** Most client-supplied instruction tokens GPT-Live accepts (they cannot change after start). */
export const MAX_INSTRUCTIONS_TOKENS = 16_384;

/** GPT-Live's μ-law format at Twilio's rate. */
export const LIVE_AUDIO_FORMAT = { type: "audio/pcmu", rate: 8000 } as const;

/** Most history messages `session.start` accepts. */
export const MAX_HISTORY_MESSAGES = 128;

/** GPT-Live's default limit of rendered history tokens. */
export const HISTORY_TOKEN_BUDGET = 8192;

/** One message of the conversation so far, as text. */
export interface LiveHistoryMessage {
  /** `developer` (notes to the model), `user` (the caller) or `assistant` (the agent). */
  role: "developer" | "user" | "assistant";
  text: string;
}

/** A function the delegated Responses backend may call. */
export interface LiveFunctionTool {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters?: Record<string, unknown>;
}

/** Responses delegation: the backend that runs tools when the Live model delegates a task. */
export interface LiveDelegation {
  /** The Responses model, e.g. `gpt-5.5`. */
  model: string;
  /** The backend's prompt (business rules, tool workflow), separate from the voice instructions. */
  instructions?: string;
  tools: readonly LiveFunctionTool[];
}

/** Options of {@linkcode sessionStartEvent}. */
export interface LiveSessionStartOptions {
  /** The GPT-Live model, e.g. `gpt-live-1.1`. */
  model: string;
  /** The persona's instructions, already rendered for this call. */
  instructions: string;
  /** The conversation so far (a reconnect); the newest messages that fit are kept. */
  history?: readonly LiveHistoryMessage[];
  /** Tools, through Responses delegation. */
  delegation?: LiveDelegation;
  /** Sent as `event_id`; an `error` about the start carries it back. */
  eventId?: string;
}

/**
 * The `session.start` event for `persona`, as a JSON string.
 *
 * @example
 * ```ts
 * socket.send(sessionStartEvent(persona, { model: "gpt-live-1.1", instructions: "…" }));
 * ```
 */
export function sessionStartEvent(persona: { voice: string }, options: LiveSessionStartOptions): string {
  const session: Record<string, unknown> = {
    model: options.model,
    instructions: options.instructions,
    audio: { format: LIVE_AUDIO_FORMAT, output: { voice: persona.voice } },
  };
  const input = historyItems(options.history ?? []);
  if (input.length > 0) session.input = input;
  if (options.delegation !== undefined) session.delegation = delegation(options.delegation);
  return JSON.stringify({
    type: "session.start",
    ...(options.eventId === undefined ? {} : { event_id: options.eventId }),
    session,
  });
}

/**
 * The newest history messages that fit GPT-Live's limits (128 messages, ~8,192 tokens estimated at
 * 4 characters a token plus a few per message), as `input` items; empty texts are skipped because a
 * message needs exactly one text part.
 */
export function historyItems(history: readonly LiveHistoryMessage[]): Record<string, unknown>[] {
  const items: Record<string, unknown>[] = [];
  let tokens = 0;
  for (let i = history.length - 1; i >= 0 && items.length < MAX_HISTORY_MESSAGES; i--) {
    const message = history[i]!;
    const text = message.text.trim();
    if (text === "") continue;
    tokens += estimateTokens(text);
    if (tokens > HISTORY_TOKEN_BUDGET) break;
    const part = message.role === "assistant" ? "output_text" : "input_text";
    items.push({ type: "message", role: message.role, content: [{ type: part, text }] });
  }
  return items.reverse();
}

/**
 * A rough token count of `text` as GPT-Live renders it in history: ~4 characters a token, +4 per
 * message. Good enough to stay under a limit with a margin, e.g. {@linkcode MAX_INSTRUCTIONS_TOKENS}.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4) + 4;
}

function delegation(config: LiveDelegation): Record<string, unknown> {
  const responses: Record<string, unknown> = { model: config.model };
  if (config.instructions !== undefined) responses.instructions = config.instructions;
  responses.tools = config.tools.map((tool) => {
    const wire: Record<string, unknown> = { type: "function", name: tool.name };
    if (tool.description !== undefined) wire.description = tool.description;
    if (tool.parameters !== undefined) wire.parameters = tool.parameters;
    return wire;
  });
  return { type: "responses", responses };
}
