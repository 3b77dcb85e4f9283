import { describe, expect, it } from "vitest";
import type { Node, SystemInfo } from "../hub";
import {
  freeGpusView,
  gpuRoomView,
  labelChange,
  labelText,
  labelViews,
  lastHeard,
  lastSeenView,
  noGpuView,
  parseLabelText,
  removalWords,
  renameChange,
  sortNodes,
  stateView,
  yieldView,
} from "./nodes";

const at = (h: number, m: number, s = 0) => new Date(2026, 11, 6, h, m, s).getTime();
const now = at(17, 50);

const system = (over: Partial<SystemInfo> = {}): SystemInfo => ({
  hostname: "h",
  os: "linux",
  cpu: { model: "x", cores: 8, usage_percent: 5 },
  memory: { total_bytes: 1, used_bytes: 1 },
  disk: { path: "/", total_bytes: 1, free_bytes: 1 },
  gpu_status: { status: "available" },
  gpus: [],
  ...over,
});

const node = (over: Partial<Node> = {}): Node => ({
  id: "n1",
  name: "gpu-box",
  labels: [],
  online: true,
  last_seen: now,
  version: "0.9.0",
  system: null,
  tasks_held: 0,
  state: "online",
  given_labels: [],
  agent_labels: [],
  only_labeled: false,
  running: [],
  ...over,
});

describe("a node that steps aside for its person", () => {
  it("is yielding, with its reason in the title and on the card", () => {
    const n = node({ state: "yielding", yield_reason: "blender uses the GPU" });
    expect(stateView(n, now)).toEqual({
      text: "Yielding",
      tone: "tone-violet",
      title: "Online; steps aside for its person: blender uses the GPU",
    });
    expect(yieldView(n)).toBe("Steps aside for its person: blender uses the GPU");
    expect(yieldView(node({ yield_reason: "stale" }))).toBeNull();
  });

  it("says how many GPUs it can give and each GPU's room", () => {
    const slot = (index: number, holders: number, over = {}) => ({
      index,
      uuid: `GPU-${index}`,
      free_bytes: 1,
      holders,
      shared: false,
      reserved: false,
      ...over,
    });
    const n = node({ capacity: { gpus: [slot(0, 0, { reserved: true }), slot(1, 0), slot(2, 2, { shared: true }), slot(3, 1)] } });
    expect(freeGpusView(n)).toBe("1 of 4 GPUs free");
    expect([0, 1, 2, 3, 9].map((i) => gpuRoomView(n, i))).toEqual([
      "kept by its person",
      "free",
      "held by 2 tasks (shared)",
      "held by 1 task",
      null,
    ]);
    expect(freeGpusView(node())).toBeNull();
    expect(freeGpusView(node({ capacity: { gpus: [] } }))).toBeNull();
  });
});

describe("node state words", () => {
  it("say online, paused and draining with their tones", () => {
    expect(stateView(node(), now)).toMatchObject({ text: "Online", tone: "tone-green" });
    expect(stateView(node({ state: "paused" }), now)).toMatchObject({ text: "Paused", tone: "tone-amber" });
    expect(stateView(node({ state: "draining" }), now)).toMatchObject({ text: "Draining", tone: "tone-blue" });
  });

  it("say since when a node is offline, exactly in the title", () => {
    const v = stateView(node({ state: "offline", last_seen: at(14, 22, 5) }), now);
    expect(v.text).toBe("Offline since 14:22");
    expect(v.tone).toBe("tone-red");
    expect(v.title).toBe("Last heartbeat 2026-12-06 14:22:05");
    expect(stateView(node({ state: "offline", last_seen: new Date(2026, 10, 3, 9, 5).getTime() }), now).text).toBe(
      "Offline since 3 Nov 09:05",
    );
    expect(stateView(node({ state: "offline", last_seen: null }), now).text).toBe("Offline");
  });

  it("say when it was last seen, relative, exact in the title", () => {
    expect(lastSeenView(at(17, 48), now)).toEqual({ text: "2 min ago", title: "2026-12-06 17:48:00" });
    expect(lastSeenView(null, now).text).toBe("never");
  });

  it("take a heartbeat seen as a sample event since the list was read", () => {
    expect(lastHeard(1000, undefined)).toBe(1000);
    expect(lastHeard(1000, 5000)).toBe(5000);
    expect(lastHeard(9000, 5000)).toBe(9000);
    expect(lastHeard(null, 5000)).toBe(5000);
  });
});

describe("labels", () => {
  it("list given labels first, then the agent's, each once", () => {
    expect(labelViews({ given_labels: ["zone-b", "gpu"], agent_labels: ["gpu", "cuda12"] })).toEqual([
      { label: "gpu", given: true },
      { label: "zone-b", given: true },
      { label: "cuda12", given: false },
    ]);
  });

  it("are typed comma or space separated", () => {
    expect(parseLabelText(" gpu, a100  zone-b,,gpu\n")).toEqual(["gpu", "a100", "zone-b"]);
    expect(parseLabelText("  ")).toEqual([]);
    expect(labelText(["gpu", "a100"])).toBe("gpu, a100");
  });

  it("change by what was added and removed against the given labels", () => {
    expect(labelChange(["gpu", "old"], ["gpu", "new"])).toEqual({ add_labels: ["new"], remove_labels: ["old"] });
    expect(labelChange([], ["a"])).toEqual({ add_labels: ["a"] });
    expect(labelChange(["a"], [])).toEqual({ remove_labels: ["a"] });
    expect(labelChange(["a", "b"], ["b", "a"])).toBeNull();
  });
});

describe("rename", () => {
  it("sends the trimmed new name, nothing when unchanged or blank", () => {
    expect(renameChange("a", " b ")).toEqual({ name: "b" });
    expect(renameChange("a", "a")).toBeNull();
    expect(renameChange("a", "  ")).toBeNull();
  });
});

describe("no GPU", () => {
  it("is worded as the desktop words it, for a node", () => {
    expect(noGpuView(node({ system: system({ gpu_status: { status: "no_driver" } }) }))).toMatch(/No NVIDIA driver is installed/);
    expect(noGpuView(node({ system: system({ gpu_status: { status: "no_gpu" } }) }))).toBe(
      "No NVIDIA GPU was found on this node. Tasks that need no GPU still run.",
    );
    expect(noGpuView(node({ system: system({ gpu_status: { status: "error", message: "NVML_ERROR_UNKNOWN" } }) }))).toBe(
      "The NVIDIA driver did not answer: NVML_ERROR_UNKNOWN.",
    );
    expect(noGpuView(node({ system: system() }))).toMatch(/No NVIDIA GPU was found/);
    const gpu = { index: 0, name: "A", uuid: "u", utilization_percent: 0, memory_used_bytes: 0, memory_total_bytes: 1, temperature_c: null };
    expect(noGpuView(node({ system: system({ gpus: [gpu] }) }))).toBeNull();
    expect(noGpuView(node({ system: null }))).toBeNull();
  });
});

describe("removal", () => {
  it("names the tasks that are canceled and what else happens", () => {
    const words = removalWords(
      node({
        running: [
          { id: "t1", name: "train", state: "running" },
          { id: "t2", name: "", state: "pulling" },
        ],
      }),
    );
    expect(words[0]).toMatch(/queued for gpu-box.*fail/);
    expect(words[1]).toBe("The 2 tasks it holds are canceled: train (running), t2 (pulling).");
    expect(words[2]).toMatch(/token stops working/);
    expect(removalWords(node())[1]).toMatch(/holds no tasks/);
    expect(removalWords(node({ running: [{ id: "t1", name: "a", state: "running" }] }))[1]).toBe(
      "The task it holds is canceled: a (running).",
    );
  });
});

it("sorts nodes by name", () => {
  expect(sortNodes([node({ name: "b" }), node({ name: "a" })]).map((n) => n.name)).toEqual(["a", "b"]);
});
