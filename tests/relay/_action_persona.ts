/**
 * The tests' own persona with every action turned on (never the user's `personas/`), for either
 * engine, and a helper that runs a test server with it.
 *
 * @module
 */

import { startTestParley, type TestParley, type TestParleyOptions } from "../../testing/parley_harness.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";

/** Where `transfer_call` dials unless the call names a target. */
export const TRANSFER_TARGET = "+14155550100";

/** The source of `tess.ts`: three tools (one answers, one throws, one is too slow) and every built-in. */
export function actionPersonaSource(engine: "realtime" | "live"): string {
  return `
export default {
  ${engine === "live" ? 'model: "gpt-live-1.1", voice: "marin",' : 'voice: "coral",'}
  instructions: "You are Tess, testing actions.",
  fallbackMessage: "Tess is away.",
  endCall: true,
  transfer: { to: "${TRANSFER_TARGET}" },
  transferFailedMessage: "Nobody could take the call.",
  dtmf: true,
  keypad: true,
  voicemail: (call) => "Tell " + (call.parameters.lead ?? "them") + " that Tess called about the order.",
  tools: [
    {
      name: "lookup_order",
      description: "Looks up an order.",
      parameters: { type: "object", properties: { order: { type: "string" } }, required: ["order"] },
      run: (args, call) => {
        call.log("looking up " + args.order);
        return { order: args.order, status: "shipped", callSid: call.callSid };
      },
    },
    { name: "broken", description: "Always fails.", run: () => { throw new Error("the order system is down"); } },
    {
      name: "slow",
      description: "Never answers in time.",
      timeoutMs: 200,
      run: (_args, call) => new Promise((resolve) => call.signal.addEventListener("abort", () => resolve("late"))),
    },
  ],
};
`;
}

/** Runs `fn` against a test server whose default persona is `tess` on `engine`. */
export async function withActionParley(
  engine: "realtime" | "live",
  fn: (t: TestParley) => Promise<void>,
  options: TestParleyOptions = {},
): Promise<void> {
  await withPersonaDir({ "tess.ts": actionPersonaSource(engine) }, async (dir) => {
    const t = await startTestParley({
      ...options,
      personasDir: dir,
      env: { DEFAULT_PERSONA: "tess", INBOUND_PERSONA: "tess", ...options.env },
    });
    try {
      await fn(t);
    } finally {
      await t.close();
    }
  });
}

/** The function outputs a fake received, by call id, parsed. */
export function outputsByCallId(events: readonly Record<string, unknown>[]): Record<string, unknown> {
  const outputs: Record<string, unknown> = {};
  for (const event of events) {
    const item = event.item as { type?: string; call_id?: string; output?: string } | undefined;
    if (item?.type === "function_call_output") outputs[item.call_id!] = JSON.parse(item.output!);
  }
  return outputs;
}
