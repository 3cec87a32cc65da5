/**
 * The paths Twilio is given: one definition for the server's routes, the TwiML, the calls API,
 * the banner and `setup-number`.
 *
 * @module
 */

/** Twilio's voice webhook: answers `<Connect><Stream>` TwiML. */
export const VOICE_WEBHOOK_PATH = "/api/twilio/voice-realtime";
/** The Media Stream WebSocket. */
export const MEDIA_STREAM_PATH = "/twilio-realtime-voice";
/** Twilio's call progress callback. */
export const STATUS_CALLBACK_PATH = "/api/twilio/status";
/** `<Connect action>`: Twilio asks what to do once the stream has ended. */
export const AFTER_STREAM_PATH = "/api/twilio/after-stream";
/** `<Dial action>`: Twilio reports how a transfer's dial ended (`DialCallStatus`). */
export const DIAL_ACTION_PATH = "/api/twilio/dial-action";
