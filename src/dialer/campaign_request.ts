/**
 * `POST /api/campaigns` bodies: validated into a campaign's settings and where its leads come from.
 * Every refusal names the field (`Field "window.timezone": …`).
 *
 * @module
 */

import { callParameterProblem, MAX_CALL_PARAMETERS } from "../calls/call_parameters.ts";
import { DEFAULT_ENGINE, type EngineId, voiceProblem } from "../engines/voices.ts";
import type { CampaignInput, Disposition, RetryRule, Weekday } from "../store/campaign.ts";
import { DISPOSITIONS } from "../store/campaign.ts";
import { DEFAULT_RETRY } from "./outcomes.ts";
import { isTimeZone, parseClock, WEEKDAYS } from "./window.ts";
import { clip, describeValue } from "../http/input_text.ts";

/** Where a campaign's leads come from. */
export type LeadSource = { ids: number[] } | { tag: string } | { csv: string };

/** A validated request. */
export interface CampaignRequest {
  input: CampaignInput;
  leads: LeadSource;
  /** Start at once. */
  start: boolean;
}

/** The most a campaign's `maxConcurrent` may be. */
export const MAX_CAMPAIGN_CONCURRENT = 100;
/** The most calls per second a campaign may place (Twilio's default account limit is 1). */
export const MAX_CALLS_PER_SECOND = 30;

const FIELDS = [
  "name",
  "persona",
  "voice",
  "parameters",
  "leads",
  "window",
  "maxConcurrent",
  "callsPerSecond",
  "retry",
  "machineDetection",
  "start",
] as const;

/** What the parser needs to know of the server. */
export interface CampaignRequestContext {
  personaIds: string[];
  /** The engine of a persona, for checking `voice`. */
  engineOf: (persona: string) => EngineId | undefined;
}

type Parsed = { ok: true; value: CampaignRequest } | { ok: false; error: string };

/** What is wrong, and where: the field's path (`window.timezone`) and the problem in words. */
class Refusal {
  constructor(readonly field: string, readonly message: string) {}
}

/**
 * Validates a `POST /api/campaigns` body.
 *
 * @example
 * ```ts
 * const parsed = parseCampaignRequest(body, { personaIds: ["alex"], engineOf: () => "realtime" });
 * if (!parsed.ok) return jsonError(400, parsed.error);
 * ```
 */
export function parseCampaignRequest(value: unknown, context: CampaignRequestContext): Parsed {
  if (!isObject(value)) {
    return {
      ok: false,
      error: `Request body must be a JSON object like {"name": …, "persona": …}, not ${describeValue(value)}`,
    };
  }
  const parsed = parseFields(value, context);
  return parsed instanceof Refusal
    ? { ok: false, error: `Field "${parsed.field}": ${parsed.message}` }
    : { ok: true, value: parsed };
}

/** The body's fields, in the order a refusal names the first wrong one. */
function parseFields(
  value: Record<string, unknown>,
  context: CampaignRequestContext,
): CampaignRequest | Refusal {
  for (const key of Object.keys(value)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      return new Refusal(clip(key), `unknown field: allowed fields are ${FIELDS.join(", ")}`);
    }
  }
  const who = parseWho(value, context);
  if (who instanceof Refusal) return who;
  const parameters = parseParameters(value.parameters);
  if (parameters instanceof Refusal) return parameters;
  const leads = parseLeadSource(value.leads);
  if (typeof leads === "string") return new Refusal("leads", leads);
  const window = parseWindow(value.window);
  if (window instanceof Refusal) return window;
  const pace = parsePace(value);
  if (pace instanceof Refusal) return pace;
  const retry = parseRetry(value.retry);
  if (retry instanceof Refusal) return retry;
  const machineDetection = value.machineDetection ?? true;
  if (typeof machineDetection !== "boolean") {
    return new Refusal("machineDetection", `${describeValue(machineDetection)} is not true or false`);
  }
  const start = value.start ?? false;
  if (typeof start !== "boolean") return new Refusal("start", `${describeValue(start)} is not true or false`);
  return {
    input: { ...who, parameters, window, ...pace, retry, machineDetection },
    leads,
    start,
  };
}

/** `name`, `persona` and `voice`: who calls. */
function parseWho(
  value: Record<string, unknown>,
  context: CampaignRequestContext,
): Pick<CampaignInput, "name" | "persona" | "voice"> | Refusal {
  const { name, persona, voice } = value;
  if (typeof name !== "string" || name.trim() === "" || name.length > 200) {
    return new Refusal("name", "is required: a string of 1 to 200 characters");
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return new Refusal("name", "contains control characters");
  if (typeof persona !== "string") return new Refusal("persona", "is required: the id of a loaded persona");
  if (!context.personaIds.includes(persona)) {
    return new Refusal(
      "persona",
      `unknown persona "${clip(persona)}": known personas are ${context.personaIds.join(", ") || "none"}`,
    );
  }
  if (voice !== undefined) {
    if (typeof voice !== "string") return new Refusal("voice", `${describeValue(voice)} is not a string`);
    const problem = voiceProblem(voice, context.engineOf(persona) ?? DEFAULT_ENGINE);
    if (problem !== undefined) return new Refusal("voice", problem);
  }
  return { name: name.trim(), persona, voice: voice as string | undefined };
}

/** `parameters`: the calls' own parameters, checked as the calling page's are. */
function parseParameters(value: unknown): Record<string, string> | Refusal {
  const parameters: Record<string, string> = {};
  if (value === undefined) return parameters;
  if (!isObject(value)) return new Refusal("parameters", "must be an object of strings");
  const entries = Object.entries(value);
  if (entries.length > MAX_CALL_PARAMETERS) {
    return new Refusal("parameters", `at most ${MAX_CALL_PARAMETERS} are allowed`);
  }
  for (const [key, item] of entries) {
    const problem = callParameterProblem(key, item);
    if (problem !== undefined) return new Refusal("parameters", problem);
    parameters[key] = item as string;
  }
  return parameters;
}

/** `window`: the days and hours, in a time zone, when leads may be called. */
function parseWindow(window: unknown): CampaignInput["window"] | Refusal {
  if (!isObject(window)) {
    return new Refusal(
      "window",
      'is required: {"timezone": "America/New_York", "days": ["mon", …], "start": "09:00", "end": "17:00"}',
    );
  }
  for (const key of Object.keys(window)) {
    if (!["timezone", "days", "start", "end"].includes(key)) {
      return new Refusal(
        `window.${clip(key)}`,
        "unknown field: allowed fields are timezone, days, start, end",
      );
    }
  }
  if (typeof window.timezone !== "string" || !isTimeZone(window.timezone)) {
    return new Refusal(
      "window.timezone",
      `${describeValue(window.timezone)} is not an IANA time zone like America/New_York`,
    );
  }
  const days = window.days;
  if (!Array.isArray(days) || days.length === 0) {
    return new Refusal("window.days", `must list days, some of ${WEEKDAYS.join(", ")}`);
  }
  for (const day of days) {
    if (typeof day !== "string" || !(WEEKDAYS as readonly string[]).includes(day)) {
      return new Refusal("window.days", `${describeValue(day)} is not one of ${WEEKDAYS.join(", ")}`);
    }
  }
  for (const key of ["start", "end"] as const) {
    if (typeof window[key] !== "string" || parseClock(window[key] as string) === undefined) {
      return new Refusal(
        `window.${key}`,
        `${describeValue(window[key])} is not a time like "09:00" (24-hour, HH:MM)`,
      );
    }
  }
  if (parseClock(window.end as string)! <= parseClock(window.start as string)!) {
    return new Refusal(
      "window",
      `has no hours: "end" (${window.end}) must be after "start" (${window.start})`,
    );
  }
  return {
    timezone: window.timezone,
    days: days as Weekday[],
    start: window.start as string,
    end: window.end as string,
  };
}

/** `maxConcurrent` and `callsPerSecond`: how many calls at once, and how fast they start. */
function parsePace(
  value: Record<string, unknown>,
): Pick<CampaignInput, "maxConcurrent" | "callsPerSecond"> | Refusal {
  const maxConcurrent = value.maxConcurrent ?? 1;
  if (
    !Number.isInteger(maxConcurrent) || (maxConcurrent as number) < 1 ||
    (maxConcurrent as number) > MAX_CAMPAIGN_CONCURRENT
  ) {
    return new Refusal(
      "maxConcurrent",
      `${describeValue(maxConcurrent)} is not a whole number from 1 to ${MAX_CAMPAIGN_CONCURRENT}`,
    );
  }
  const callsPerSecond = value.callsPerSecond ?? 1;
  if (typeof callsPerSecond !== "number" || !(callsPerSecond > 0) || callsPerSecond > MAX_CALLS_PER_SECOND) {
    return new Refusal(
      "callsPerSecond",
      `${describeValue(callsPerSecond)} is not a number above 0 and at most ${MAX_CALLS_PER_SECOND}`,
    );
  }
  return { maxConcurrent: maxConcurrent as number, callsPerSecond };
}

/** `retry`: per outcome, after how many minutes and how many times a lead is called again. */
function parseRetry(value: unknown): Record<Disposition, RetryRule> | Refusal {
  const retry: Record<Disposition, RetryRule> = { ...DEFAULT_RETRY };
  if (value === undefined) return retry;
  if (!isObject(value)) {
    return new Refusal("retry", 'must be an object like {"busy": {"after": 15, "max": 3}}');
  }
  for (const [outcome, rule] of Object.entries(value)) {
    if (!(DISPOSITIONS as readonly string[]).includes(outcome)) {
      return new Refusal(
        `retry.${clip(outcome)}`,
        `is not an outcome: outcomes are ${DISPOSITIONS.join(", ")}`,
      );
    }
    if (!isObject(rule)) {
      return new Refusal(`retry.${outcome}`, 'must be an object like {"after": 15, "max": 3}');
    }
    const base = DEFAULT_RETRY[outcome as Disposition];
    const after = rule.after ?? base.after, max = rule.max ?? base.max;
    for (const key of Object.keys(rule)) {
      if (key !== "after" && key !== "max") {
        return new Refusal(`retry.${outcome}.${clip(key)}`, "unknown field: allowed are after, max");
      }
    }
    if (typeof after !== "number" || !(after >= 0) || after > 60 * 24 * 30) {
      return new Refusal(
        `retry.${outcome}.after`,
        `${describeValue(after)} is not a number of minutes from 0 to 43200`,
      );
    }
    if (!Number.isInteger(max) || (max as number) < 0 || (max as number) > 20) {
      return new Refusal(
        `retry.${outcome}.max`,
        `${describeValue(max)} is not a whole number of retries from 0 to 20`,
      );
    }
    retry[outcome as Disposition] = { after, max: max as number };
  }
  return retry;
}

function parseLeadSource(value: unknown): LeadSource | string {
  const example = 'is required: {"ids": [1, 2]}, {"tag": "december"} or {"csv": "name,phone\\n…"}';
  if (!isObject(value)) return example;
  const keys = Object.keys(value);
  if (keys.length !== 1) return `must have exactly one of ids, tag, csv: ${example.slice(13)}`;
  if ("ids" in value) {
    const ids = value.ids;
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => Number.isSafeInteger(id) && id > 0)) {
      return '"ids" must be a non-empty list of lead ids (positive whole numbers)';
    }
    return { ids: ids as number[] };
  }
  if ("tag" in value) {
    if (typeof value.tag !== "string" || value.tag.trim() === "") return '"tag" must be a non-empty string';
    return { tag: value.tag.trim() };
  }
  if ("csv" in value) {
    if (typeof value.csv !== "string" || value.csv.trim() === "") {
      return '"csv" must be CSV text with a header row';
    }
    return { csv: value.csv };
  }
  return `unknown source "${clip(keys[0]!)}": ${example.slice(13)}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
