/**
 * A receptionist for inbound calls: greets the caller, finds out what they need and takes a message.
 * It shows a persona tool: `take_message` is called with the message once the caller has given it,
 * and here only writes it to Parley's log (replace `run` with a call to your CRM or mailbox). The
 * agent hangs up after its goodbye (`endCall`) and hears the caller's key presses (`dtmf`).
 *
 * Call parameters used (optional): `business`, the name the phone is answered with.
 *
 * @module
 */

import { definePersona } from "parley/persona";

export default definePersona({
  description: "Inbound receptionist: answers, helps with simple questions, takes messages",
  voice: "marin",
  instructions: ({ parameters }) => {
    const business = parameters.business?.trim() || "the office";
    return `You are the receptionist answering the phone for ${business}. Callers are calling in.

Your job: greet them, find out what they need, answer simple questions, and otherwise take a message: ` +
      `their name, a callback number, and what it is about. Read the number back to confirm it.

How you talk:
- This is a phone call. Keep turns short: one or two sentences, then listen.
- Be warm, calm and efficient. Plain words; no lists, no markdown.
- If the caller interrupts you, stop and answer what they said.
- If you do not know something (opening hours, prices, someone's schedule), say so and offer to take a message; ` +
      `never make things up.
- If they ask whether you are an AI, say honestly that you are an AI assistant.
- When you have the message, call take_message with it.
- When you have what you need, tell them someone will get back to them, thank them, say goodbye, then call end_call.`;
  },
  greeting:
    "Answer the phone: greet the caller warmly, say the name of the business, and ask how you can help.",
  vad: { type: "server_vad", threshold: 0.6, prefixPaddingMs: 300, silenceDurationMs: 500 },
  fallbackMessage: "Sorry, we can't take your call right now. Please try again later. Goodbye.",
  endCall: true,
  dtmf: true,
  tools: [{
    name: "take_message",
    description:
      "Save a message for the team once the caller has given their name, number and what it is about.",
    parameters: {
      type: "object",
      properties: {
        name: { type: "string", description: "The caller's name" },
        callback: { type: "string", description: "The number to call back, as the caller said it" },
        about: { type: "string", description: "What the call is about, in one sentence" },
      },
      required: ["name", "callback", "about"],
    },
    run: (args, call) => {
      call.log(`Message from ${args.name} (${args.callback}): ${args.about}`);
      return { saved: true };
    },
  }],
  // After the call: the outcome, filled from the transcript (README, "Outcomes").
  analysis: {
    schema: {
      type: "object",
      properties: {
        callerName: { type: ["string", "null"], description: "The caller's name, or null if not given" },
        reason: { type: "string", description: "Why they called, in one sentence" },
        callbackNumber: {
          type: ["string", "null"],
          description: "The number to call back, as the caller said it, or null",
        },
        urgency: { type: "string", enum: ["low", "normal", "high"], description: "How soon to call back" },
      },
      required: ["callerName", "reason", "callbackNumber", "urgency"],
      additionalProperties: false,
    },
  },
});
