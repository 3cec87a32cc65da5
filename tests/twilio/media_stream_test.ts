/**
 * Reading Twilio's frames: a caller frame exactly as Twilio sends it takes a fast path (no
 * `JSON.parse`, no object tree), and reads the same as the full parse; anything else, however close
 * to Twilio's shape, takes the full parse and is judged as before.
 */

import assert from "node:assert/strict";
import { parseTwilioMessage } from "../../src/twilio/media_stream.ts";
import { framePayload } from "../../testing/frames.ts";

const SID = "MZ0123456789abcdef0123456789abcdef";
const PAYLOAD = framePayload(4242, 7);

/** A caller frame in Twilio's own shape and key order (see the reference's protocol notes). */
function twilioFrame(payload = PAYLOAD, streamSid = SID): string {
  return `{"event":"media","sequenceNumber":"12","streamSid":"${streamSid}","media":{"track":"inbound",` +
    `"chunk":"11","timestamp":"220","payload":"${payload}"}}`;
}

/** What `read` returns, and how many times it called `JSON.parse`. */
function countingParses<T>(read: () => T): { value: T; parses: number } {
  const parse = JSON.parse;
  let parses = 0;
  JSON.parse = (...args: Parameters<typeof JSON.parse>) => {
    parses++;
    return parse(...args);
  };
  try {
    return { value: read(), parses };
  } finally {
    JSON.parse = parse;
  }
}

Deno.test("a caller frame as Twilio sends it is read without JSON.parse", () => {
  assert.deepEqual(countingParses(() => parseTwilioMessage(twilioFrame())), {
    value: { event: "media", payload: PAYLOAD, streamSid: SID, timestamp: 220 },
    parses: 0,
  });
});

Deno.test("frames near Twilio's shape read exactly as the full parse reads them", () => {
  const frame = twilioFrame();
  const cases = [
    frame,
    twilioFrame(PAYLOAD.slice(0, -1)), // not a multiple of 4: not base64
    twilioFrame(PAYLOAD.slice(0, -4) + "AA=="),
    twilioFrame(""),
    twilioFrame(PAYLOAD.slice(0, -4) + "A-B_"), // base64url is not Twilio's alphabet
    twilioFrame(PAYLOAD, "MZ\\u0041bc"), // an escape in the streamSid
    frame.replace('"track":"inbound"', '"track":"outbound"'),
    frame.replace('"media":{', '"media":{"extra":1,'),
    frame.slice(0, -1) + ',"event":"stop"}', // a later duplicate key wins in JSON
    frame.slice(0, -2) + ',"payload":"AAAA"}}',
    frame.replace('"12"', "12"),
    frame.replace('"220"', '"-20"'),
    frame.replace('"220"', '"2.5"'),
    frame.replace('"220"', '"1234567890123456"'),
    frame.replace('"220"', "220"),
    frame.replace('"timestamp":"220",', ""),
    frame + " ",
    frame.slice(0, -1),
  ];
  for (const text of cases) {
    // A leading space is still JSON, but never Twilio's exact shape: the full parse reads it.
    assert.deepEqual(parseTwilioMessage(text), parseTwilioMessage(` ${text}`), text);
  }
  assert.equal(parseTwilioMessage(cases[1]!).event, "invalid");
  assert.equal(parseTwilioMessage(cases[8]!).event, "stop");
});

Deno.test("a mark echo as Twilio sends it is read without JSON.parse, and near shapes as the full parse reads them", () => {
  const echo = `{"event":"mark","sequenceNumber":"9","streamSid":"${SID}","mark":{"name":"item_C9a:1840"}}`;
  assert.deepEqual(countingParses(() => parseTwilioMessage(echo)), {
    value: { event: "mark", name: "item_C9a:1840" },
    parses: 0,
  });
  const cases = [
    echo,
    echo.replace("item_C9a:1840", "item\\u0041:0"), // an escape in the name
    echo.replace("item_C9a:1840", "item 1:0"),
    echo.replace("item_C9a:1840", ""),
    echo.slice(0, -1) + ',"event":"stop"}', // a later duplicate key wins in JSON
    echo.slice(0, -2) + ',"name":"other:0"}}',
    echo.replace('"9"', "9"),
    echo + " ",
  ];
  for (const text of cases) assert.deepEqual(parseTwilioMessage(text), parseTwilioMessage(` ${text}`), text);
  assert.equal(parseTwilioMessage(cases[4]!).event, "stop");
  assert.deepEqual(parseTwilioMessage(cases[5]!), { event: "mark", name: "other:0" });
});

Deno.test("the media timestamp is read as a number, and a bad one is undefined, never a rejected frame", () => {
  const frame = twilioFrame();
  const timestampOf = (text: string) => {
    const message = parseTwilioMessage(text);
    assert.equal(message.event, "media", text);
    return message.event === "media" ? message.timestamp : "not media";
  };
  assert.equal(timestampOf(frame), 220);
  assert.equal(timestampOf(` ${frame}`), 220); // the full parse reads it too
  assert.equal(timestampOf(frame.replace('"220"', '"0"')), 0);
  assert.equal(timestampOf(frame.replace('"220"', '"999999999999999"')), 999999999999999);
  for (const bad of ['"-20"', '"2.5"', '"1e3"', '""', '"abc"', "220", "null", '"1234567890123456"']) {
    assert.equal(timestampOf(frame.replace('"220"', bad)), undefined, bad);
  }
  assert.equal(timestampOf(frame.replace('"timestamp":"220",', "")), undefined);
});
