// The tester on GPT-Live, for the bench's GPT-Live calls: speaks first, imports nothing, and sets
// no Realtime-only field (GPT-Live refuses vad, interruptions and the like).
export default {
  model: "gpt-live-1.1",
  voice: "marin",
  instructions: "You are testing. Answer briefly.",
  greeting: "Say hello first.",
  fallbackMessage: "The tester is away.",
};
