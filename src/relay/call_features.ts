/**
 * What a started call adds to the relay, from its persona: the actions (tools, keypad, voicemail,
 * see `actions.ts`) and the `maxCallMinutes` deadline.
 *
 * @module
 */

import type { EndReason } from "../calls/call_events.ts";
import type { SessionPlan } from "../engines/engine.ts";
import { CallActions } from "./actions.ts";
import { CallDeadline, WRAP_UP_INSTRUCTION } from "./call_deadline.ts";
import type { CallParts } from "./call_parts.ts";
import type { CallSetup } from "./call_setup.ts";

/** Ends the call. */
export type EndCall = (reason: EndReason, detail: string) => void;

/** The call's actions, acting through its parts (the session of the moment, barge-in, the report). */
export function createCallActions(p: CallParts, setup: CallSetup, end: EndCall): CallActions {
  const start = p.start!;
  return new CallActions({
    persona: setup.persona,
    context: { parameters: start.customParameters, callSid: start.callSid, streamSid: start.streamSid },
    engine: setup.engine,
    send: (message) => p.session.send(message),
    heardAll: () => p.bargeIn.heardAll(),
    callerSpeaking: () => p.bargeIn.callerSpeaking,
    stopAgent: () => p.bargeIn.cut(p.now()),
    playAgentAudio: (itemId, payload) => {
      p.bargeIn.agentAudio(itemId, itemId, payload);
      p.bargeIn.audioDone(itemId, itemId);
    },
    end,
    answerAsked: (prompt) => p.keeper.answerAsked(prompt),
    toolCalled: (report) => p.report.toolCalled(report),
    log: p.log,
  });
}

/** The persona's `maxCallMinutes`: the agent is asked to wrap up, then the call ends. */
export function createDeadline(
  p: CallParts,
  plan: SessionPlan,
  maxMinutes: number | undefined,
  end: EndCall,
): CallDeadline | undefined {
  if (maxMinutes === undefined) return undefined;
  return new CallDeadline(maxMinutes * 60_000, {
    wrapUp: () => {
      p.log.info(`Call nears maxCallMinutes (${maxMinutes}): asking the agent to wrap up`);
      // Through the actions: asked while an answer is under way or the caller speaks, it waits.
      p.actions?.prompt(p.session.engine.prompt(plan, WRAP_UP_INSTRUCTION));
    },
    end: () => end("max_call_minutes", `the persona's maxCallMinutes (${maxMinutes}) was reached`),
  });
}
