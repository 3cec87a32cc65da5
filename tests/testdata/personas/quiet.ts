// Waits for the caller (no greeting), semantic VAD, and ignores sounds shorter than 400 ms.
export default {
  voice: "marin",
  instructions: "You answer questions briefly.",
  vad: { type: "semantic_vad", eagerness: "high" },
  interruptions: { minSpeechMs: 400 },
  model: "gpt-realtime-2.1-mini",
};
