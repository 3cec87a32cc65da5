/** Alex calls someone who asks never to be called again. */
import { defineScenario } from "parley/scenario";

export default defineScenario({
  persona: "alex",
  description: "A request not to be called again is honoured at once",
  parameters: { lead: "Robin" },
  caller: {
    instructions: "You are Robin. As soon as the rep says why they are calling, you say calmly: please " +
      "take me off your list and don't call me again. Wait for their answer, then hang up.",
  },
  expect: [
    { name: "ends cleanly", endReason: ["agent_hung_up", "caller_hung_up"] },
    { name: "short call", maxTurns: 4 },
    { name: "lists the number", toolCalled: "do_not_call" },
    {
      name: "confirms removal",
      judge: "the agent apologised and confirmed the caller will not be called again",
    },
    { name: "no pitch after", judge: "the agent did not pitch or ask questions after the request" },
    { name: "outcome says do not call", outcome: { doNotCall: true } },
  ],
});
