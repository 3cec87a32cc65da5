// A persona with every field set, used by tests that assert the exact session.update.
// It imports nothing: persona files may live outside the repo.
export default {
  voice: "coral",
  instructions: (context: { parameters: Record<string, string>; callSid: string }) =>
    `You are testing. Lead: ${context.parameters.lead ?? "unknown"}. Call: ${context.callSid}.`,
  greeting: "Say hello first.",
  vad: { type: "server_vad", threshold: 0.6, prefixPaddingMs: 300, silenceDurationMs: 450 },
  fallbackMessage: "The tester is away.",
  noiseReduction: "far_field",
  maxOutputTokens: 800,
};
