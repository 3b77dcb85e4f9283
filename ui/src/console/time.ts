// Times as the console shows them: relative in the page ("5 min ago"), exact
// in a title (hover) so nothing is lost. Pure, for every page to use.

import { formatClockSeconds } from "../shared/format";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * How long ago `ms` was, in words: "just now", "5 min ago", "3 hours ago",
 * "2 days ago"; `never` for null (a token never used). A time a little in the
 * future (clocks differ) is "just now".
 */
export function relativeTime(ms: number | null, now: number, never = "never"): string {
  if (ms === null) return never;
  const ago = now - ms;
  if (ago < MINUTE) return "just now";
  if (ago < HOUR) return `${Math.floor(ago / MINUTE)} min ago`;
  if (ago < DAY) return `${plural(Math.floor(ago / HOUR), "hour")} ago`;
  return `${plural(Math.floor(ago / DAY), "day")} ago`;
}

/** The exact local time, for titles: "2026-12-06 17:51:04". */
export function exactTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${formatClockSeconds(ms)}`;
}
