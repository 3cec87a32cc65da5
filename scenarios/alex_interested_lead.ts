/** Alex calls a lead who has the problem and books a demo once the rep is brief. */
import { defineScenario } from "parley/scenario";

export default defineScenario({
  persona: "alex",
  description: "An interested lead books a demo",
  parameters: { lead: "Dana", company: "Northwind Dental" },
  caller: {
    instructions: "You are Dana, office manager at Northwind Dental: busy and a little sceptical. Your " +
      "front desk does lose time calling patients to confirm appointments. You agree to a demo on Tuesday at " +
      "3 pm, but only if the rep is brief and answers your question about whether it works with your " +
      "existing calendar. Once the demo is booked, say goodbye and hang up.",
  },
  expect: [
    { name: "ends cleanly", endReason: ["agent_hung_up", "caller_hung_up"] },
    { name: "short call", maxTurns: 12 },
    { name: "answers quickly", p95LatencyMs: 2000 },
    { name: "no dead air", maxDeadAirSeconds: 5 },
    { name: "interested", outcome: { interested: true } },
    { name: "repeats the slot", judge: "the agent repeated the day and time of the demo back to confirm it" },
    {
      name: "no invented price",
      judge: "the agent never named a price, a discount or a feature it was not told about",
    },
  ],
});
