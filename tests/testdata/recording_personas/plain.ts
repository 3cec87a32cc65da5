// A persona that does not record (the default).
export default {
  voice: "coral",
  instructions: "You are testing calls that are not recorded.",
  greeting: "Say hello first.",
};
