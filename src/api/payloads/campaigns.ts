/**
 * The JSON of campaigns: a campaign, its calls, the do-not-call list. Part of the API's types (`../types.ts`, which the pages import); imports
 * nothing outside them.
 *
 * @module
 */

import type { CallOutcome } from "./calls.ts";

/** A campaign as `GET /api/campaigns/:id` answers it (`src/api/campaigns.ts`). */
export interface CampaignView {
  id: number;
  name: string;
  persona: string;
  voice?: string;
  state: "draft" | "running" | "paused" | "waiting" | "finished" | "stopped";
  window: { timezone: string; days: string[]; start: string; end: string };
  maxConcurrent: number;
  callsPerSecond: number;
  retry: Record<string, { after: number; max: number }>;
  machineDetection: boolean;
  createdAt: number;
  updatedAt: number;
  /** How many leads it has. */
  leads: number;
  counts: {
    byState: Record<string, number>;
    byDisposition: Record<string, number>;
    skipped: Record<string, number>;
    attempts: number;
  };
  /** When the earliest waiting lead is due (epoch ms), or null. */
  nextTryAt: number | null;
  inProgress: { callSid: string | null; phone: string | null; attempt: number }[];
}

/** `GET /api/campaigns`. */
export interface CampaignList {
  campaigns: CampaignView[];
}

/** One row of `GET /api/campaigns/:id/calls`: an attempt, or a skipped lead (`skipped`, attempt 0). */
export interface CampaignCall {
  campaignLeadId: number;
  leadId: number | null;
  name: string;
  phone: string;
  attempt: number;
  callSid: string | null;
  startedAt?: number;
  endedAt?: number | null;
  disposition?: string | null;
  detail?: string;
  /** The call's post-call analysis (attempts only): null while it has none. */
  outcome?: CallOutcome | null;
  skipped?: string | null;
}

/** `GET /api/dnc`. */
export interface DoNotCallList {
  numbers: { phone: string; source: string; addedAt: number }[];
}

/** `POST /api/dnc/import` → 201, or 207 when some lines were refused. */
export interface DoNotCallImport {
  /** Numbers the file added to the list. */
  added: number;
  /** The file's good numbers that were listed already. */
  alreadyListed: number;
  /** How many lines were refused, all of them. */
  refused: number;
  /** The lines refused, by their line in the file (the first 100). */
  errors: { line: number; message: string }[];
}
