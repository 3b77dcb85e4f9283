// The Cluster page's words about a node: its state (online, offline since
// when, paused, draining, yielding and why), the GPUs it can give now, its labels (given by an admin or reported by its
// agent), the change a relabel sends, why it shows no GPU, and what removing
// it does. Pure functions, so the page only lays them out.

import type { Node, NodeChange, RunningTask } from "../hub";
import { formatWhen } from "../../shared/format";
import { noGpuWords } from "../../shared/figures";
import { formatAgo, formatExact } from "../../shared/timewords";
import { YIELDING_TONE } from "../../shared/colors";

/** A node's state as the page shows it: the words, the pill's tone and the exact time for a title. */
export type StateView = { text: string; tone: string; title: string };

/** The state pill: "Online", "Offline since 14:22" (exact time in the title), "Paused", "Draining", "Yielding". */
export function stateView(node: Pick<Node, "state" | "last_seen" | "yield_reason">, now: number): StateView {
  switch (node.state) {
    case "yielding":
      return {
        text: "Yielding",
        tone: YIELDING_TONE,
        title: `Online; steps aside for its person${node.yield_reason ? `: ${node.yield_reason}` : ""}`,
      };
    case "online":
      return { text: "Online", tone: "tone-green", title: "Sends heartbeats and takes tasks" };
    case "paused":
      return { text: "Paused", tone: "tone-amber", title: "Online; takes no new tasks until resumed" };
    case "draining":
      return { text: "Draining", tone: "tone-blue", title: "Online; finishes the tasks it holds and takes no new ones" };
    case "offline":
      if (node.last_seen === null) return { text: "Offline", tone: "tone-red", title: "Has never connected" };
      return {
        text: `Offline since ${formatWhen(node.last_seen, now)}`,
        tone: "tone-red",
        title: `Last heartbeat ${formatExact(node.last_seen)}`,
      };
  }
}

/**
 * When the node was last heard from: the list's `last_seen`, or a later
 * heartbeat seen since as a `sample` event (the list is not read again for
 * each heartbeat).
 */
export function lastHeard(lastSeen: number | null, sampleAt: number | undefined): number | null {
  if (sampleAt === undefined) return lastSeen;
  return lastSeen === null ? sampleAt : Math.max(lastSeen, sampleAt);
}

/** When the node was last heard from: "2 min ago", with the exact time for a title; "never" before its first heartbeat. */
export function lastSeenView(lastSeen: number | null, now: number): { text: string; title: string } {
  if (lastSeen === null) return { text: "never", title: "No heartbeat yet" };
  return { text: formatAgo(lastSeen, now), title: formatExact(lastSeen) };
}

/** One label as shown: `given` when an admin gave it (changeable here), else the agent reports it. */
export type LabelView = { label: string; given: boolean };

/** Every label of a node once, given ones first, each list sorted. */
export function labelViews(node: Pick<Node, "given_labels" | "agent_labels">): LabelView[] {
  const given = new Set(node.given_labels);
  const out: LabelView[] = [...given].sort().map((label) => ({ label, given: true }));
  for (const label of [...new Set(node.agent_labels)].sort()) {
    if (!given.has(label)) out.push({ label, given: false });
  }
  return out;
}

/** Labels typed comma or space separated: trimmed, blanks dropped, each once, in the order typed. */
export function parseLabelText(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((l) => l !== ""))];
}

/** The given labels as the field starts: "gpu, a100". */
export const labelText = (labels: readonly string[]): string => labels.join(", ");

/** The PATCH body that turns the given labels into `typed`: what to add, what to remove; null when nothing changes. */
export function labelChange(given: readonly string[], typed: readonly string[]): NodeChange | null {
  const had = new Set(given);
  const want = new Set(typed);
  const add_labels = [...want].filter((l) => !had.has(l));
  const remove_labels = [...had].filter((l) => !want.has(l));
  if (add_labels.length === 0 && remove_labels.length === 0) return null;
  const change: NodeChange = {};
  if (add_labels.length > 0) change.add_labels = add_labels;
  if (remove_labels.length > 0) change.remove_labels = remove_labels;
  return change;
}

/** The PATCH body of a rename, or null when the name does not change (blank counts as no change). */
export function renameChange(current: string, typed: string): NodeChange | null {
  const name = typed.trim();
  return name === "" || name === current ? null : { name };
}

/** Why the node shows no GPU chart, in the desktop's words; null when it has GPUs (or has not said yet). */
export function noGpuView(node: Pick<Node, "system">): string | null {
  const system = node.system;
  if (system === null) return null;
  const status = system.gpu_status;
  return noGpuWords(status.status, status.status === "error" ? status.message : null, system.gpus.length, "this node");
}

/** Why a yielding node steps aside, as its card says it; null when it does not. */
export function yieldView(node: Pick<Node, "state" | "yield_reason">): string | null {
  if (node.state !== "yielding") return null;
  return `Steps aside for its person: ${node.yield_reason ?? "no reason given"}`;
}

/** How many GPUs a node can give now: "1 of 2 GPUs free"; null when its agent does not say. */
export function freeGpusView(node: Pick<Node, "capacity">): string | null {
  const gpus = node.capacity?.gpus;
  if (!gpus || gpus.length === 0) return null;
  const free = gpus.filter((g) => !g.reserved && g.holders === 0).length;
  return `${free} of ${gpus.length} GPU${gpus.length === 1 ? "" : "s"} free`;
}

/** One GPU's room, for its tile: "free", "held by 2 tasks (shared)", "kept by its person"; null when not said. */
export function gpuRoomView(node: Pick<Node, "capacity">, index: number): string | null {
  const slot = node.capacity?.gpus.find((g) => g.index === index);
  if (!slot) return null;
  if (slot.reserved) return "kept by its person";
  if (slot.holders === 0) return "free";
  return `held by ${slot.holders === 1 ? "1 task" : `${slot.holders} tasks`}${slot.shared ? " (shared)" : ""}`;
}

/** A task as the removal dialog names it: "train-resnet (running)". */
export const taskWords = (task: RunningTask): string => `${task.name || task.id} (${task.state})`;

/** What removing a node does, one sentence each, for the confirmation. */
export function removalWords(node: Pick<Node, "name" | "running">): string[] {
  const held = node.running.length;
  return [
    `Tasks queued for ${node.name} alone (its node: key) fail, since no other node may take them.`,
    held === 0
      ? `It holds no tasks now, so none is canceled.`
      : `The ${held === 1 ? "task" : `${held} tasks`} it holds ${held === 1 ? "is" : "are"} canceled: ${node.running.map(taskWords).join(", ")}.`,
    `Its token stops working: its agent is refused from now on.`,
  ];
}

/** The nodes in the order the page lists them: by name. */
export const sortNodes = (nodes: readonly Node[]): Node[] => [...nodes].sort((a, b) => a.name.localeCompare(b.name));
