/**
 * Reads the TwiML the voice webhook answers, as Twilio does for the parts a virtual phone acts on:
 * the `<Stream url>`, its `<Parameter>`s and the `<Connect action>` URL.
 *
 * @module
 */

/** What a `<Connect><Stream>` answer asks of the phone; `streamUrl` undefined when it names no stream. */
export interface ConnectInstructions {
  streamUrl: string | undefined;
  actionUrl: string | undefined;
  parameters: Record<string, string>;
}

/**
 * Reads `twiml`.
 *
 * @example
 * ```ts
 * readConnectTwiml('<Response><Connect action="https://p/a"><Stream url="wss://p/s"/></Connect></Response>');
 * // { streamUrl: "wss://p/s", actionUrl: "https://p/a", parameters: {} }
 * ```
 */
export function readConnectTwiml(twiml: string): ConnectInstructions {
  const parameters: Record<string, string> = {};
  for (const match of twiml.matchAll(/<Parameter\s+name="([^"]*)"\s+value="([^"]*)"\s*\/>/g)) {
    parameters[unescapeXml(match[1]!)] = unescapeXml(match[2]!);
  }
  const attribute = (tag: string, name: string) => {
    const value = twiml.match(new RegExp(`<${tag}\\b[^>]*\\s${name}="([^"]*)"`))?.[1];
    return value === undefined ? undefined : unescapeXml(value);
  };
  return { streamUrl: attribute("Stream", "url"), actionUrl: attribute("Connect", "action"), parameters };
}

function unescapeXml(text: string): string {
  return text.replace(
    /&(amp|lt|gt|quot|apos);/g,
    (_, name: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" })[name as "amp"],
  );
}
