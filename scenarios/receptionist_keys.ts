/** A caller who presses keys, as people do when they expect a phone menu. */
import { defineScenario } from "parley/scenario";

export default defineScenario({
  persona: "receptionist",
  description: "A caller presses keys: the agent hears them and carries on helping",
  parameters: { business: "Harbor Law" },
  caller: {
    instructions: "You are Alex Kim and you expect a phone menu. Right after the greeting, press 0 (call " +
      "press_keys with 0) without saying anything. Then say you want to leave a message for the billing " +
      "team about invoice 4471; your number is 415 555 0110. Then say goodbye and hang up.",
  },
  expect: [
    { name: "takes the message", toolCalled: "take_message", withArguments: { about: "4471" } },
    { name: "ends cleanly", endReason: ["agent_hung_up", "caller_hung_up"] },
    {
      name: "handles the key",
      judge: "the agent responded sensibly to the key press instead of ignoring the caller",
    },
  ],
});
