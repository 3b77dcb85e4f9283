// The Tasks page's filters live in the hash (`#/tasks?state=running&name=x`),
// so a filtered view can be bookmarked, shared and gone back to.

import type { TaskState } from "../hub";

/** Every state a task can be in, in its life's order (the state filter's choices). */
export const TASK_STATES: readonly TaskState[] = [
  "queued",
  "assigned",
  "pulling",
  "running",
  "paused",
  "succeeded",
  "failed",
  "canceled",
  "lost",
];

/** What the Tasks page filters by; empty strings are "any". */
export type TasksQuery = { state: TaskState | ""; node: string; label: string; name: string };

export const NO_FILTER: TasksQuery = { state: "", node: "", label: "", name: "" };

const KEYS = ["state", "node", "label", "name"] as const;

/** The filters a hash such as `#/tasks?state=running&name=x` names; unknown states and keys are dropped. */
export function parseTasksHash(hash: string): TasksQuery {
  const at = hash.indexOf("?");
  const params = new URLSearchParams(at < 0 ? "" : hash.slice(at + 1));
  const state = params.get("state") ?? "";
  return {
    state: (TASK_STATES as readonly string[]).includes(state) ? (state as TaskState) : "",
    node: (params.get("node") ?? "").trim(),
    label: (params.get("label") ?? "").trim(),
    name: params.get("name") ?? "",
  };
}

/** The hash of the Tasks page with these filters (`#/tasks` when none). */
export function tasksHash(query: TasksQuery): string {
  const params = new URLSearchParams();
  for (const key of KEYS) {
    const value = key === "name" ? query[key] : query[key].trim();
    if (value !== "") params.set(key, value);
  }
  const text = params.toString();
  return text === "" ? "#/tasks" : `#/tasks?${text}`;
}

/** The filters as `listTasks` takes them (blank ones left out). */
export function listFilter(query: TasksQuery): { state?: TaskState; node?: string; label?: string; name?: string } {
  const out: { state?: TaskState; node?: string; label?: string; name?: string } = {};
  if (query.state !== "") out.state = query.state;
  if (query.node.trim() !== "") out.node = query.node.trim();
  if (query.label.trim() !== "") out.label = query.label.trim();
  if (query.name.trim() !== "") out.name = query.name.trim();
  return out;
}

export const sameQuery = (a: TasksQuery, b: TasksQuery): boolean => KEYS.every((k) => a[k] === b[k]);

/**
 * Whether a `tasks` event (these ids changed or are new) calls for the
 * page shown to be read again: one of its tasks changed, or, on the first
 * page, a task it does not show appeared (a new one may belong at the top).
 */
export function pageTouched(shown: ReadonlySet<string>, changed: readonly string[], firstPage: boolean): boolean {
  return changed.some((id) => shown.has(id) || firstPage);
}
