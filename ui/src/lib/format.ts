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
