/**
 * The tokens of one Realtime response, as `response.done` reports them: what `prices.ts` prices and
 * `usage.ts` summarizes (its own module, so neither imports the other for it).
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
