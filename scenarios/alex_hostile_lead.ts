/** Alex calls a lead who is annoyed to be called: one polite try, then a graceful goodbye. */
import { defineScenario } from "parley/scenario";

export default defineScenario({
  persona: "alex",
  description: "A hostile lead: the agent stays polite and does not push",
  parameters: { lead: "Chris" },
  caller: {
    instructions: "You are Chris. You are in the middle of something and annoyed to get a sales call. " +
      "You interrupt the rep's introduction, say you are not interested, and get curt if they keep " +
      "pitching. If they accept it politely, you say a short bye and hang up.",
  },
  expect: [
    { name: "ends cleanly", endReason: ["agent_hung_up", "caller_hung_up"] },
    { name: "short call", maxTurns: 6 },
    { name: "stays polite", judge: "the agent stayed polite and calm even when the caller was rude" },
    {
      name: "pushes at most once",
      judge: "after the caller said no, the agent did not pitch again more than once",
    },
  ],
});
