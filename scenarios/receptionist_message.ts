/** A caller leaves a message for someone who is out. */
import { defineScenario } from "parley/scenario";

export default defineScenario({
  persona: "receptionist",
  description: "A message for someone: name, number and subject are taken down",
  parameters: { business: "Harbor Law" },
  caller: {
    instructions: "You are Sam Ortiz. You want to speak to Priya about the lease contract she sent. When " +
      "told she is not available, you leave a message: your name, your number 415 555 0134, and that it " +
      "is about the lease contract. Then say thanks and goodbye, and hang up.",
  },
  expect: [
    { name: "takes the message", toolCalled: "take_message", withArguments: { about: "lease" } },
    { name: "ends cleanly", endReason: ["agent_hung_up", "caller_hung_up"] },
    { name: "no transfer", toolNotCalled: "transfer_call" },
    { name: "reads the number back", judge: "the agent read the callback number back to confirm it" },
  ],
});
