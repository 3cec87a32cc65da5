/**
 * Alex on GPT-Live: the same script, greeting, fallback, voicemail, hang-up and do-not-call as `alex.ts`, served by the full-duplex
 * GPT-Live model, so the two engines can be compared on one script (call with `persona=alex_live`).
 *
 * GPT-Live owns turn-taking and barge-in, so Alex's phone-line VAD does not apply here, and the voice
 * is one of GPT-Live's (shimmer exists on both; marin is GPT-Live's default). Billed $0.05 a minute.
 *
 * @module
 */

import { definePersona } from "parley/persona";
import alex from "./alex.ts";

export default definePersona({
  description: "Alex on GPT-Live (full-duplex, billed per minute): compare with alex",
  model: "gpt-live-1.1",
  voice: alex.voice,
  instructions: alex.instructions,
  ...(alex.greeting === undefined ? {} : { greeting: alex.greeting }),
  ...(alex.fallbackMessage === undefined ? {} : { fallbackMessage: alex.fallbackMessage }),
  ...(alex.voicemail === undefined ? {} : { voicemail: alex.voicemail }),
  endCall: true,
  doNotCall: true,
});
