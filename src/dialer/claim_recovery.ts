/**
 * Puts back the leads this instance holds claimed and never dialled: once, what a run before this one
 * left (a restart, also logging the attempts it left open), and what a pass that failed part-way through
 * a batch left (the store erring, say),
 * so such leads neither stay `dialing` (counted against `maxConcurrent`) nor miss their turn. Kept apart
 * from `dialer.ts`, which claims and dials: this is only the bookkeeping of the claims a run or a pass
 * could not see through.
 *
 * The store puts back only this instance's claims with no open attempt, and keeps a lead's noted
 * request, so a call Twilio placed before the restart or the failure is looked up and adopted, not
 * dialled again.
 *
 * @module
 */

import { errorText, type Logger } from "../log.ts";
import type { Campaign } from "../store/campaign.ts";
import type { Campaigns } from "../store/ports.ts";

/** Options of {@linkcode ClaimRecovery}. */
export interface ClaimRecoveryOptions {
  campaigns: Pick<Campaigns, "releaseClaims" | "openAttempts">;
  /** This instance (INSTANCE_ID): the claims put back are those that carry it. */
  instance: string;
  log: Logger;
}

/**
 * The claims one instance's dialer could not see through, put back.
 *
 * @example
 * ```ts
 * const claims = new ClaimRecovery({ campaigns, instance, log });
 * await claims.recover(); // at start, and first in every pass until it has worked once
 * await claims.releaseLeftover(); // first in every pass: what a failed pass could not put back
 * ```
 */
export class ClaimRecovery {
  readonly #o: ClaimRecoveryOptions;
  /** What a run before this one left claimed is put back (at start, or by the first pass that could). */
  #recovered = false;
  /** A failed pass could not put back the leads it had claimed and not dialled: the next pass does, first. */
  #claimsLeft = false;

  /** Nothing is put back until asked. */
  constructor(options: ClaimRecoveryOptions) {
    this.#o = options;
  }

  /** Puts back what an earlier run of this instance left claimed, once, before any pass dials. */
  async recover(): Promise<void> {
    if (this.#recovered) return;
    const { campaigns, instance, log } = this.#o;
    const back = await campaigns.releaseClaims(instance);
    if (back > 0) log.info(`Dialer: put back ${back} lead(s) claimed before a restart and not dialled`);
    const open = await campaigns.openAttempts(instance);
    if (open.length > 0) {
      log.info(`Dialer: waiting for the outcome of ${open.length} call(s) from before a restart`);
    }
    this.#recovered = true;
  }

  /** Puts back the leads a failed pass claimed and could not put back ({@linkcode releaseAfter}), if any. */
  async releaseLeftover(): Promise<void> {
    if (!this.#claimsLeft) return;
    const { campaigns, instance, log } = this.#o;
    const back = await campaigns.releaseClaims(instance);
    this.#claimsLeft = false;
    if (back > 0) log.info(`Dialer: put back ${back} lead(s) a failed pass had claimed and not dialled`);
  }

  /**
   * A step of a pass failed (the store, say) with leads of the batch claimed and not dialled: they go
   * back to pending as they were. Passes run one at a time, so this instance's claims with no open
   * attempt are this pass's. Resolves to the error the pass ends with (logged once, by the dialer's
   * `tick`), saying what became of the claims; those that could not be put back are left to
   * {@linkcode releaseLeftover}.
   */
  async releaseAfter(campaign: Campaign, error: unknown): Promise<Error> {
    let claims: string;
    try {
      const back = await this.#o.campaigns.releaseClaims(this.#o.instance);
      claims = `put back ${back} claimed lead(s) not dialled`;
    } catch (releaseError) {
      this.#claimsLeft = true;
      claims = `the leads it claimed and did not dial could not be put back (${
        errorText(releaseError)
      }): the next pass does`;
    }
    return new Error(`campaign ${campaign.id}: ${errorText(error)}; ${claims}`, { cause: error });
  }
}
