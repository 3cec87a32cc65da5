/**
 * Calling windows in a time zone: whether an instant is inside one, and when the next one opens.
 * Local times come from the Intl API (the IANA database Deno ships), so daylight-saving changes move
 * the window with the wall clock: 09:00 stays 09:00 local on either side of a change.
 *
 * @module
 */

import type { CallingWindow, Weekday } from "../store/campaign.ts";

/** Days in `Date#getUTCDay` order. */
export const WEEKDAYS: readonly Weekday[] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The formatter of `timeZone`; throws a RangeError for a zone Intl does not know. */
function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, format);
  }
  return format;
}

/** True when `timeZone` is an IANA zone this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
  if (timeZone.trim() === "") return false;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock parts of `at` in `timeZone`. */
interface LocalTime {
  year: number;
  month: number;
  day: number;
  /** Minutes since local midnight. */
  minutes: number;
  weekday: Weekday;
}

function localTime(at: number, timeZone: string): LocalTime {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(at))) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  const year = parts.year!, month = parts.month!, day = parts.day!;
  return {
    year,
    month,
    day,
    minutes: parts.hour! * 60 + parts.minute!,
    weekday: WEEKDAYS[new Date(Date.UTC(year, month - 1, day)).getUTCDay()]!,
  };
}

/** `"09:30"` → 570; undefined for anything but `HH:MM` from 00:00 to 24:00. */
export function parseClock(text: string): number | undefined {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text) ?? (text === "24:00" ? [text, "24", "00"] : null);
  return match === null ? undefined : Number(match[1]) * 60 + Number(match[2]);
}

/** The UTC offset of `timeZone` at `at`, ms (local = UTC + offset). */
function offsetAt(at: number, timeZone: string): number {
  const local = localTime(at, timeZone);
  const seconds = new Date(at).getUTCSeconds();
  const asUtc = Date.UTC(local.year, local.month - 1, local.day, 0, local.minutes, seconds);
  return asUtc - (at - new Date(at).getUTCMilliseconds());
}

/**
 * The instant the wall clock of `timeZone` reads `minutes` past midnight of the given local date. A
 * time skipped by a daylight-saving change moves forward by the gap, as the clock does (02:30 on a
 * spring-forward night is 03:30); a repeated one is its later instance.
 */
function zonedInstant(year: number, month: number, day: number, minutes: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day, 0, minutes);
  let at = wall - offsetAt(wall, timeZone);
  const second = wall - offsetAt(at, timeZone);
  if (second !== at) at = Math.max(at, second);
  return at;
}

/** True when `at` is inside `window` in `timeZone` (its day listed, `start` ≤ local time < `end`). */
export function inWindow(window: CallingWindow, timeZone: string, at: number): boolean {
  const local = localTime(at, timeZone);
  const start = parseClock(window.start)!, end = parseClock(window.end)!;
  return window.days.includes(local.weekday) && local.minutes >= start && local.minutes < end;
}

/**
 * `at` itself when it is inside the window, else the instant the window next opens in `timeZone`, or
 * undefined when it never does (no days).
 */
export function nextWindowOpen(window: CallingWindow, timeZone: string, at: number): number | undefined {
  if (inWindow(window, timeZone, at)) return at;
  const start = parseClock(window.start)!;
  const today = localTime(at, timeZone);
  for (let offset = 0; offset <= 8; offset++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + offset));
    const weekday = WEEKDAYS[date.getUTCDay()]!;
    if (!window.days.includes(weekday)) continue;
    const opens = zonedInstant(
      date.getUTCFullYear(),
      date.getUTCMonth() + 1,
      date.getUTCDate(),
      start,
      timeZone,
    );
    if (opens > at) return opens;
  }
  return undefined;
}

/** The instant the window that holds `at` closes, or undefined when `at` is outside it. */
export function windowCloses(window: CallingWindow, timeZone: string, at: number): number | undefined {
  if (!inWindow(window, timeZone, at)) return undefined;
  const local = localTime(at, timeZone);
  return zonedInstant(local.year, local.month, local.day, parseClock(window.end)!, timeZone);
}
