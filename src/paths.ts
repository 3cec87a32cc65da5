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
