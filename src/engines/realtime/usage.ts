/**
 * The Realtime API's usage shape: the tokens of one response, as `response.done` reports them.
 * Priced per token in `src/engines/prices.ts`; carried by the `usage` call event.
 *
 * @module
 */

/** Token usage of one response, as `response.done` reports it. */
export interface TokenUsage {
  inputTextTokens: number;
  inputAudioTokens: number;
  inputCachedTokens: number;
  /** How many of the cached tokens were audio, when OpenAI says (`cached_tokens_details`). */
  inputCachedAudioTokens?: number;
  /** How many of the cached tokens were text, when OpenAI says. */
  inputCachedTextTokens?: number;
  outputTextTokens: number;
  outputAudioTokens: number;
}
