/** Alex reaches an answering machine instead of a person. */
import { defineScenario } from "parley/scenario";

export default defineScenario({
  persona: "alex",
  description: "An answering machine picks up: after the beep the agent leaves its voicemail and hangs up",
  parameters: { lead: "Sam" },
  caller: {
    instructions: "You are not a person: you are Sam's answering machine. When you hear anything, say " +
      "exactly once: \"Hi, you've reached Sam. I can't take your call right now, please leave a message " +
      'after the tone." Then stay silent whatever is said. Never answer questions and never call hang_up.',
    // Twilio's answering-machine detection (DetectMessageEnd) reports the beep once the greeting has
    // ended; Parley then leaves the persona's voicemail and hangs up.
    answeredBy: "machine_end_beep",
  },
  maxMinutes: 2,
  expect: [
    { name: "leaves a voicemail", endReason: "voicemail_left" },
    { name: "leaves a message", judge: "the agent left a short message saying who is calling and why" },
    {
      name: "no conversation",
      judge: "the agent did not ask the answering machine questions or wait for answers",
    },
  ],
});
