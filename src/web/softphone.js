/**
 * The softphone: the microphone and speaker of this browser as one side of a Media Stream. It
 * speaks Twilio's protocol to `/api/softphone`, so the call goes through the same relay as a phone
 * call: `media` frames up, `media`/`mark`/`clear` down, marks echoed when played.
 */

/** @typedef {{ onStatus: (text: string) => void, onQueued: (ms: number) => void, onEnded: (why: string) => void, onAssigned?: (callSid: string) => void }} SoftphoneHooks */

/** @param {Uint8Array} bytes */
function toBase64(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** @param {string} text */
function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/**
 * Opens the microphone and the call socket.
 * @param {{ persona: string, voice: string }} call
 * @param {SoftphoneHooks} hooks
 * @returns {Promise<{ callSid: () => string, hangUp: () => void, stats: { framesSent: number, marksEchoed: number, lastMarkEchoed: string, queuedMs: number } }>}
 */
export async function startSoftphone(call, hooks) {
  const { context, microphone, node } = await openAudio();
  const socket = new WebSocket(softphoneUrl(call));
  const stats = { framesSent: 0, marksEchoed: 0, lastMarkEchoed: "", queuedMs: 0 };
  let streamSid = "";
  let callSid = "";
  let sequence = 0;
  let ended = false;
  /** @param {unknown} message */
  const send = (message) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  };

  const finish = (/** @type {string} */ why) => {
    if (ended) return;
    ended = true;
    for (const track of microphone.getTracks()) track.stop();
    context.close();
    hooks.onEnded(why);
  };

  node.port.onmessage = (event) => {
    const message = event.data;
    if (message.type === "frame" && streamSid !== "") {
      sequence++;
      stats.framesSent++;
      send(mediaMessage(sequence, streamSid, stats.framesSent, message.bytes));
    } else if (message.type === "mark") {
      stats.marksEchoed++;
      stats.lastMarkEchoed = message.name;
      send({ event: "mark", sequenceNumber: String(++sequence), streamSid, mark: { name: message.name } });
    } else if (message.type === "queued") {
      stats.queuedMs = message.ms;
      hooks.onQueued(message.ms);
    }
  };

  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data));
    if (message.event === "parley.assigned") {
      ({ callSid, streamSid } = message);
      send({ event: "connected", protocol: "Call", version: "1.0.0" });
      send(startMessage(++sequence, streamSid, callSid, call));
      hooks.onStatus("Connected: speak now");
      hooks.onAssigned?.(callSid);
    } else {
      playbackCommand(message, node.port);
    }
  };
  socket.onclose = (event) =>
    finish(event.code === 1000 ? "Call ended" : `Call ended (${event.code} ${event.reason})`);
  socket.onerror = () => hooks.onStatus("Connection problem");
  hooks.onStatus("Connecting…");

  return {
    callSid: () => callSid,
    stats,
    hangUp() {
      send({
        event: "stop",
        sequenceNumber: String(++sequence),
        streamSid,
        stop: { accountSid: "", callSid },
      });
      socket.close(1000);
      finish("Call ended");
    },
  };
}

/**
 * The call socket's URL: `/api/softphone` on this page's host, with the call's parameters.
 * @param {{ persona: string, voice: string }} call
 */
function softphoneUrl(call) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/api/softphone?${new URLSearchParams(callParameters(call))}`;
}

/**
 * Hands Twilio's playback messages to the worklet: `media` to play, `mark` to echo once played up to
 * it, `clear` to drop what is unplayed. Any other message is ignored.
 * @param {{ event?: unknown, media?: { payload: string }, mark?: { name: string } }} message
 * @param {MessagePort} port
 */
function playbackCommand(message, port) {
  if (message.event === "media" && message.media !== undefined) {
    port.postMessage({ type: "play", bytes: fromBase64(message.media.payload) });
  } else if (message.event === "mark" && message.mark !== undefined) {
    port.postMessage({ type: "mark", name: message.mark.name });
  } else if (message.event === "clear") {
    port.postMessage({ type: "clear" });
  }
}

/**
 * The microphone (with the browser's echo cancellation) through the μ-law worklet, which also plays
 * the agent to the speaker: 8 kHz, one channel, as Twilio sends and takes it.
 */
async function openAudio() {
  const context = new AudioContext({ sampleRate: 8000 });
  await context.audioWorklet.addModule("/web/mulaw_worklet.js");
  const microphone = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const node = new AudioWorkletNode(context, "mulaw", { outputChannelCount: [1] });
  context.createMediaStreamSource(microphone).connect(node);
  node.connect(context.destination);
  return { context, microphone, node };
}

/**
 * The call's persona and voice (none when empty), as the socket's query and the stream's parameters.
 * @param {{ persona: string, voice: string }} call
 * @returns {Record<string, string>}
 */
function callParameters(call) {
  return { persona: call.persona, ...(call.voice === "" ? {} : { voice: call.voice }) };
}

/**
 * A `media` message carrying one 20 ms frame of the microphone (`frame` counts from 1).
 * @param {number} sequence
 * @param {string} streamSid
 * @param {number} frame
 * @param {Uint8Array} bytes
 */
function mediaMessage(sequence, streamSid, frame, bytes) {
  return {
    event: "media",
    sequenceNumber: String(sequence),
    streamSid,
    media: {
      track: "inbound",
      chunk: String(frame),
      timestamp: String(frame * 20),
      payload: toBase64(bytes),
    },
  };
}

/**
 * The `start` message, as Twilio sends it once the stream is assigned.
 * @param {number} sequence
 * @param {string} streamSid
 * @param {string} callSid
 * @param {{ persona: string, voice: string }} call
 */
function startMessage(sequence, streamSid, callSid, call) {
  return {
    event: "start",
    sequenceNumber: String(sequence),
    streamSid,
    start: {
      streamSid,
      callSid,
      accountSid: "",
      tracks: ["inbound"],
      customParameters: callParameters(call),
      mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
    },
  };
}
