// A node's usage (issue 19): what the tasks that ended on it used, by UTC
// day, as `GET /v1/nodes/{node}/usage` answers it, and the last days' GPU
// hours laid out for the node card's small bar chart.
import { refusal } from "../hub";

/** Sums over tasks, in base units (seconds, watt-hours, bytes). */
export type UsageTotals = {
  tasks: number;
  /** Runs the node gave back to the queue when it stepped aside; their figures count here. */
  released_runs?: number;
  wall_seconds: number;
  cpu_seconds: number;
  gpu_seconds: number;
  energy_wh: number;
  bytes_pulled: number;
  bytes_uploaded: number;
  bytes_downloaded: number;
};
export type UsageDay = { day: string; totals: UsageTotals };
export type NodeUsage = { node: string; since: number; totals: UsageTotals; days: UsageDay[] };

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` of a moment in UTC, as the hub names its days. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Midnight UTC `count - 1` days before `now`'s day: where a chart of `count` days starts. */
export function chartStart(now: number, count: number): number {
  return Math.floor(now / DAY_MS) * DAY_MS - (count - 1) * DAY_MS;
}

/** A node's usage since `since` (Unix ms), with the session's cookie. */
export async function nodeUsage(node: string, since: number): Promise<NodeUsage> {
  const at = new Date(since).toISOString().replace(/\.\d+Z$/, "Z");
  const response = await fetch(`/v1/nodes/${encodeURIComponent(node)}/usage?since=${encodeURIComponent(at)}`, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!response.ok) throw await refusal(response);
  return (await response.json()) as NodeUsage;
}

/** GPU hours of each of the `count` UTC days ending with `now`'s, oldest first; 0 for a day without tasks. */
export function gpuHoursByDay(usage: NodeUsage, now: number, count: number): { day: string; hours: number }[] {
  const byDay = new Map(usage.days.map((d) => [d.day, d.totals.gpu_seconds / 3600]));
  const start = chartStart(now, count);
  return Array.from({ length: count }, (_, i) => {
    const day = utcDay(start + i * DAY_MS);
    return { day, hours: byDay.get(day) ?? 0 };
  });
}
