// Times in words for lists that say when something last happened: "2 min ago"
// with the exact time for a tooltip, and a chart's time window in words.

const pad = (n: number): string => String(n).padStart(2, "0");

/** The exact local time, to the second: "2026-12-06 17:51:30". */
export function formatExact(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/**
 * How long ago, as short as is clear: "just now" (under 10 s), "42 s ago",
 * "5 min ago", "3 h ago", "2 days ago". A time a little ahead of `now`
 * (another machine's clock) reads "just now".
 */
export function formatAgo(ms: number, now: number): string {
  const s = Math.floor((now - ms) / 1000);
  if (s < 10) return "just now";
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} days ago`;
}

/** A chart's window in words: 300 → "5 minutes", 3600 → "hour", 7200 → "2 hours". */
export function spanWords(seconds: number): string {
  if (seconds >= 3600 && seconds % 3600 === 0) {
    const h = seconds / 3600;
    return h === 1 ? "hour" : `${h} hours`;
  }
  const m = Math.max(1, Math.round(seconds / 60));
  return m === 1 ? "minute" : `${m} minutes`;
}
