// A persona that records its calls, with a disclosure line (tests/recordings/).
export default {
  voice: "coral",
  instructions: "You are testing recordings.",
  greeting: "Say hello first.",
  record: true,
  recordingDisclosure: "This call is recorded.",
};
