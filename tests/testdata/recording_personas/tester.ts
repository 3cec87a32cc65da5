// The tests' `tester` persona, recording its calls: what the bench's `--record` runs (parley-record),
// so that recording on and off differ in nothing else.
export default {
  voice: "coral",
  instructions: (context: { parameters: Record<string, string>; callSid: string }) =>
    `You are testing. Lead: ${context.parameters.lead ?? "unknown"}. Call: ${context.callSid}.`,
  greeting: "Say hello first.",
  vad: { type: "server_vad", threshold: 0.6, prefixPaddingMs: 300, silenceDurationMs: 450 },
  fallbackMessage: "The tester is away.",
  noiseReduction: "far_field",
  maxOutputTokens: 800,
  record: true,
};
