// A task's history as the Task detail page shows it: each state with when
// it began, why, and how long the task stayed in it.

import type { Task, TaskState, Transition } from "../hub";
import { isFinished } from "../../shared/format";

export type TimelineEntry = {
  state: TaskState;
  at: number;
  reason: string | null;
  /** How long the task stayed in this state (to now for the current one); null for a finished task's last state. */
  lasted: number | null;
};

/** The history in time order, with the time spent in each state. */
export function timeline(history: readonly Transition[], now: number): TimelineEntry[] {
  const sorted = [...history].sort((a, b) => a.at - b.at);
  return sorted.map((t, i) => {
    const next = sorted[i + 1];
    let lasted: number | null;
    if (next !== undefined) lasted = Math.max(0, next.at - t.at);
    else lasted = isFinished(t.state) ? null : Math.max(0, now - t.at);
    return { state: t.state, at: t.at, reason: t.reason, lasted };
  });
}

/** How long the task has run (to now while it runs), or null before it starts. */
export function runTime(task: Pick<Task, "state" | "started_at" | "finished_at">, now: number): number | null {
  if (task.started_at === null) return null;
  const end = task.finished_at ?? (isFinished(task.state) ? null : now);
  return end === null ? null : Math.max(0, end - task.started_at);
}

/** Which of a task's buttons show in its state: the desktop's rules (pause a running task, resume a paused one, cancel any unfinished). */
export function taskActions(state: TaskState): { pause: boolean; resume: boolean; cancel: boolean } {
  return { pause: state === "running", resume: state === "paused", cancel: !isFinished(state) };
}

/** What the hub was asked and has not yet done, in words ("" when nothing waits). */
export function pendingText(pending: Task["pending_command"]): string {
  switch (pending) {
    case "cancel":
      return "Cancel asked; waiting for the node";
    case "pause":
      return "Pause asked; waiting for the node";
    case "resume":
      return "Resume asked; waiting for the node";
    default:
      return "";
  }
}
