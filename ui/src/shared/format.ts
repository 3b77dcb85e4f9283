import type { Connection, TaskState, TaskView } from "../bindings";

/** States after which a task does nothing more. */
export const FINISHED: ReadonlySet<TaskState> = new Set<TaskState>(["succeeded", "failed", "canceled", "lost"]);

export function isFinished(state: TaskState): boolean {
  return FINISHED.has(state);
}

/** "42s", "3m 04s", "2h 05m", "3d 4h". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** How long the task has run (to now while it has not finished), or null before it starts. */
export function taskDuration(task: TaskView, now: number): number | null {
  if (task.started_at_ms === null) return null;
  const end = task.finished_at_ms ?? (isFinished(task.state) ? null : now);
  if (end === null) return null;
  return Math.max(0, end - task.started_at_ms);
}

/** Local wall-clock time as HH:MM (24-hour). */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** The word the connection badge shows: one of connected, offline, local, connecting. */
export function connectionWord(c: Connection): "connected" | "offline" | "local" | "connecting" {
  switch (c) {
    case "connected":
    case "offline":
    case "local":
    case "connecting":
      return c;
    default:
      // "setup": the agent is being started after the wizard.
      return "connecting";
  }
}

/** A task's list: held tasks first, then recent ones, each id once. */
export function mergeTasks(tasks: TaskView[], recent: TaskView[]): TaskView[] {
  const seen = new Set<string>();
  const out: TaskView[] = [];
  for (const t of [...tasks, ...recent]) {
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    out.push(t);
  }
  return out;
}

/** The colour of a state pill. */
export function stateTone(state: TaskState): string {
  switch (state) {
    case "running":
      return "tone-blue";
    case "pulling":
      return "tone-cyan";
    case "paused":
      return "tone-amber";
    case "succeeded":
      return "tone-green";
    case "failed":
      return "tone-red";
    case "lost":
      return "tone-violet";
    default: // queued, assigned, canceled
      return "tone-grey";
  }
}

/** States in which something is happening now (the pill's dot pulses). */
export function isLive(state: TaskState): boolean {
  return state === "running" || state === "pulling";
}

/** The filters of the Tasks screen. */
export type TaskFilter = "all" | "running" | "paused" | "succeeded" | "failed" | "canceled";

export const TASK_FILTERS: readonly TaskFilter[] = ["all", "running", "paused", "succeeded", "failed", "canceled"];

/** Whether a task shows under a filter: "running" takes every state on the way to running, "failed" takes lost ones. */
export function matchesFilter(state: TaskState, filter: TaskFilter): boolean {
  switch (filter) {
    case "all":
      return true;
    case "running":
      return state === "assigned" || state === "pulling" || state === "running";
    case "failed":
      return state === "failed" || state === "lost";
    default:
      return state === filter;
  }
}

function scaled(n: number, base: number, units: readonly string[]): string {
  if (!Number.isFinite(n) || n <= 0) return `0 ${units[0]}`;
  let i = 0;
  let v = n;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  if (i === 0) return `${Math.round(v)} ${units[0]}`;
  // Three figures at most: 1.23 → "1.2", 12.3 → "12.3", 123.4 → "123".
  const text = v >= 100 ? String(Math.round(v)) : v.toFixed(1).replace(/\.0$/, "");
  // Rounding can reach the base ("1000 MB"): say the next unit instead.
  if (Number(text) >= base && i < units.length - 1) return `1 ${units[i + 1]}`;
  return `${text} ${units[i]}`;
}

/** Sizes of files, disks and downloads, in powers of 1000 as file managers show them: "456 MB". */
export function formatBytes(n: number): string {
  return scaled(n, 1000, ["B", "kB", "MB", "GB", "TB", "PB"]);
}

/** Memory (RAM, GPU memory), in powers of 1024 as system monitors show it: "11.8 GiB". */
export function formatMemory(n: number): string {
  return scaled(n, 1024, ["B", "KiB", "MiB", "GiB", "TiB"]);
}

/** A percentage with no decimals: "87%". */
export function formatPercent(p: number): string {
  if (!Number.isFinite(p)) return "—";
  return `${Math.round(p)}%`;
}

/** A share (0–1) kept within bounds, for bars. */
export function ratio(part: number, whole: number): number {
  if (!(whole > 0) || !Number.isFinite(part)) return 0;
  return Math.min(1, Math.max(0, part / whole));
}

/**
 * A share (0..1) as a CSS width in tenths of a percent: a live value that
 * moves by less than that leaves the style as it was, so nothing is drawn.
 */
export function barWidth(share: number): string {
  return `${Math.round(ratio(share, 1) * 1000) / 10}%`;
}

/** Local wall-clock time as HH:MM:SS. */
export function formatClockSeconds(ms: number): string {
  const d = new Date(ms);
  return `${formatClock(ms)}:${String(d.getSeconds()).padStart(2, "0")}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** When something changed, as short as is clear: "14:22" today, "3 Jan 14:22" this year, "3 Jan 2023" before. */
export function formatWhen(ms: number, now: number): string {
  const d = new Date(ms);
  const n = new Date(now);
  if (d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate()) {
    return formatClock(ms);
  }
  const day = `${d.getDate()} ${MONTHS[d.getMonth()]}`;
  if (d.getFullYear() === n.getFullYear()) return `${day} ${formatClock(ms)}`;
  return `${day} ${d.getFullYear()}`;
}

/** A pull's progress as words: "123 MB of 456 MB", or "123 MB" while the total is not known. */
export function pullText(done: number, total: number): string {
  if (total > 0) return `${formatBytes(done)} of ${formatBytes(total)}`;
  return done > 0 ? formatBytes(done) : "Starting…";
}

/** How a finished task ended, in words: "exit code 3 · out of memory". Empty when there is nothing to say. */
export function exitText(task: TaskView): string {
  const parts: string[] = [];
  if (task.exit_code !== null) parts.push(`exit code ${task.exit_code}`);
  if (task.reason) parts.push(task.reason);
  return parts.join(" · ");
}
