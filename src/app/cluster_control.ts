/**
 * Acting on the {@linkcode CallCommand}s other instances send (several instances on Postgres): a
 * command for a call relayed here reaches its relay; one for a call answered or placed here that another
 * instance took (its stream or its webhook) closes its pre-warm, frees its slot (a drain stops waiting
 * for it) and stops the never-connected watch (the relaying instance ends the call; a shutdown here
 * must not); any other
 * is not for this instance and is ignored.
 *
 * @module
 */

import type { CallCommand, CallControl } from "../calls/call_control.ts";
import type { Logger } from "../log.ts";
import type { LiveRelays } from "../relay/live_relays.ts";
import type { Prewarms } from "../relay/prewarm.ts";
import type { Admission } from "../calls/admission.ts";
import type { NeverConnectedWatch } from "../calls/never_connected.ts";
import { errorText } from "../log.ts";

/**
 * Listens on `control` and acts on commands for this instance's calls. Returns the unsubscribe function.
 *
 * @example
 * ```ts
 * const off = obeyCallCommands(store.control, relays, prewarms, admission, neverConnected, log);
 * // on shutdown:
 * off();
 * ```
 */
export function obeyCallCommands(
  control: CallControl,
  relays: Pick<LiveRelays, "get">,
  prewarms: Pick<Prewarms, "closeUnused">,
  admission: Pick<Admission, "elsewhere">,
  neverConnected: Pick<NeverConnectedWatch, "elsewhere" | "userHangingUp">,
  log: Logger,
): () => void {
  return control.listen((command: CallCommand) => {
    if (command.type === "stream_elsewhere") {
      prewarms.closeUnused(command.callSid);
      admission.elsewhere(command.callSid);
      neverConnected.elsewhere(command.callSid);
      return;
    }
    const relay = relays.get(command.callSid);
    if (relay === undefined) {
      // Placed here, still ringing (or its stream still to come): the end its final status brings is
      // the user's, not never_connected. Otherwise relayed by another instance, or over.
      if (command.type === "user_hanging_up" && neverConnected.userHangingUp(command.callSid)) {
        log.debug(
          `CallSid=${command.callSid} is being hung up through Twilio before its stream started (asked by another instance)`,
        );
      }
      return;
    }
    switch (command.type) {
      case "hang_up":
        log.info(`Hung up CallSid=${command.callSid} by ending its stream (asked by another instance)`);
        relay.hangUp();
        break;
      case "user_hanging_up":
        log.debug(`CallSid=${command.callSid} is being hung up through Twilio (asked by another instance)`);
        relay.userHangingUp();
        break;
      case "machine_answered":
        relay.machineAnswered(command.answeredBy);
        break;
    }
  });
}

/**
 * Sends `command` on `control` without waiting; a refusal is logged (the call goes on as if the
 * command had not been given).
 */
export function tellOtherInstances(
  control: CallControl | undefined,
  command: CallCommand,
  log: Logger,
): void {
  control?.send(command).catch((error) =>
    log.warn(
      `Could not send ${command.type} for CallSid=${command.callSid} to the other instances: ${
        errorText(error)
      }`,
    )
  );
}
