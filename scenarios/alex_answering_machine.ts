/** Alex reaches an answering machine instead of a person. */
import { defineScenario } from "parley/scenario";

export default defineScenario({
  persona: "alex",
  description: "An answering machine picks up: a short message, then the agent hangs up",
  parameters: { lead: "Sam" },
  caller: {
    instructions: "You are not a person: you are Sam's answering machine. When you hear anything, say " +
      "exactly once: \"Hi, you've reached Sam. I can't take your call right now, please leave a message " +
      'after the tone. Beep." Then stay silent whatever is said. Never answer questions. Call hang_up ' +
      "once the caller has left a message and gone quiet.",
  },
  maxMinutes: 2,
  expect: [
    { name: "ends", endReason: ["agent_hung_up", "caller_hung_up", "voicemail_left"] },
    { name: "leaves a message", judge: "the agent left a short message saying who is calling and why" },
    {
      name: "no conversation",
      judge: "the agent did not ask the answering machine questions or wait for answers",
    },
  ],
});
