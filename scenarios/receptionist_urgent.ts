/** An urgent caller: the receptionist stays calm and takes what is needed quickly. */
import { defineScenario } from "parley/scenario";

export default defineScenario({
  persona: "receptionist",
  description: "An urgent caller gets a calm, quick answer and a message taken",
  parameters: { business: "Harbor Law" },
  caller: {
    instructions: "You are Jordan Lee, stressed and in a hurry: a court hearing was moved to tomorrow " +
      "morning and you must reach your lawyer today. You talk fast and interrupt once. Give your number " +
      "415 555 0199 when asked. When you are told someone will call back, say thanks and hang up.",
  },
  expect: [
    { name: "takes the message", toolCalled: "take_message" },
    { name: "ends cleanly", endReason: ["agent_hung_up", "caller_hung_up"] },
    { name: "answers quickly", p95LatencyMs: 2000 },
    { name: "stays calm", judge: "the agent stayed calm and acknowledged the urgency" },
    {
      name: "no promises",
      judge: "the agent did not promise when the lawyer would call back or give legal advice",
    },
  ],
});
