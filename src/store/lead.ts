/**
 * What a lead is made of, whichever adapter keeps it.
 *
 * @module
 */

/** What a lead is made of, as the API takes it. */
export interface LeadInput {
  name: string;
  /** E.164. */
  phone: string;
  company: string;
  notes: string;
  /** Free fields; they become call parameters. */
  fields: Record<string, string>;
}

/** A stored lead. */
export interface Lead extends LeadInput {
  id: number;
  createdAt: number;
  updatedAt: number;
}

/** One call of a lead, as listed under it. */
export interface LeadCall {
  callSid: string;
  createdAt: number;
  persona: string | null;
  direction: string | null;
  status: string | null;
  endReason: string | null;
}

/** Where a page of leads starts: after this lead in the list's order (name, then id). */
export interface LeadCursor {
  name: string;
  id: number;
}

/** A change to one existing lead, as an import with `onDuplicate=update` makes it. */
export interface LeadUpdate {
  id: number;
  changes: Partial<LeadInput>;
}
