// A stand-in for src-tauri's commands, channels and events, installed through
// @tauri-apps/api/mocks before the real App mounts (see harness.ts).
//
// It answers every command of src/lib/api.ts with realistic data: a node with
// two RTX 4090s whose use moves, six tasks in different states (one pulling its
// image), their containers, a storage tree and the node's settings. The URL's
// query picks a scenario (see Scenario). Every invocation is recorded, so that
// a test can check what the UI asked for; tests drive the rest through
// window.__mock (see MockControl).

import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import type {
  ContainerView,
  DiskBudgetView,
  DiskSettings,
  GpuSample,
  HealthCheck,
  LogBatch,
  MetricsSample,
  NewTask,
  NodeSettings,
  NodeSettingsChange,
  StepAside,
  Notifications,
  Setup,
  Status,
  StorageEntry,
  StorageListing,
  TaskDetail,
  TaskGpuUseView,
  TaskIsolation,
  TaskState,
  TaskView,
  TimelineEntry,
  UiError,
  UpdateProgress,
  UpdateState,
} from "../../src/bindings";

// ---------------------------------------------------------------------------
// Scenario

export type Scenario = {
  /** "two" (default): two RTX 4090s; "none": no NVIDIA driver; "error": NVML failed. */
  gpu: "two" | "none" | "error";
  /** "remote" (default): connected to a hub; "local": this computer only. */
  mode: "remote" | "local";
  /** "small" (default): a realistic tree; "big": 100,000 files at the top. */
  storage: "small" | "big";
  /** "normal" (default); "1m": the succeeded task's log has 1,000,000 lines. */
  log: "normal" | "1m";
  /** "some" (default): six tasks and their containers; "none": nothing held, ended or made. */
  tasks: "some" | "none";
  /** Milliseconds each command takes to answer (default 0). */
  latency: number;
  /**
   * The app's updates. "current" (default): a key, a server, up to date;
   * "available": the server offers 0.2.0 (install works); "badsig": it offers
   * 0.2.0 whose download fails the signature check; "unreachable": checks
   * fail; "off": no server set; "nokey": a build with no update key;
   * "locked": GANTRY_UPDATE_ENDPOINT sets the server.
   */
  update: "current" | "available" | "badsig" | "unreachable" | "off" | "nokey" | "locked";
  /** "done" (default): set up; "removed": the hub removed this node, the wizard shows why. */
  setup: "done" | "removed";
};

export function parseScenario(search: string): Scenario {
  const q = new URLSearchParams(search);
  const pick = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const v = q.get(name);
    return v !== null && (allowed as readonly string[]).includes(v) ? (v as T) : fallback;
  };
  return {
    gpu: pick("gpu", ["two", "none", "error"] as const, "two"),
    mode: pick("mode", ["remote", "local"] as const, "remote"),
    storage: pick("storage", ["small", "big"] as const, "small"),
    log: pick("log", ["normal", "1m"] as const, "normal"),
    tasks: pick("tasks", ["some", "none"] as const, "some"),
    latency: Number(q.get("latency") ?? "0") || 0,
    update: pick("update", ["current", "available", "badsig", "unreachable", "off", "nokey", "locked"] as const, "current"),
    setup: pick("setup", ["done", "removed"] as const, "done"),
  };
}

// ---------------------------------------------------------------------------
// Channels: the mock's side of @tauri-apps/api's Channel.
//
// A Channel passed to invoke() reaches the mock as the object itself (mockIPC
// does not serialise); over real IPC it is the string "__CHANNEL__:<id>". Its
// id names a callback registered with __TAURI_INTERNALS__.transformCallback,
// which expects { index, message } (in order from 0) and finally { index, end }.

type Internals = {
  runCallback: (id: number, data: unknown) => void;
  callbacks: Map<number, unknown>;
};

function internals(): Internals {
  return (window as unknown as { __TAURI_INTERNALS__: Internals }).__TAURI_INTERNALS__;
}

export class MockChannel<T> {
  readonly id: number;
  private index = 0;

  constructor(arg: unknown) {
    if (typeof arg === "string" && arg.startsWith("__CHANNEL__:")) {
      this.id = Number(arg.slice("__CHANNEL__:".length));
    } else if (typeof arg === "object" && arg !== null && typeof (arg as { id?: unknown }).id === "number") {
      this.id = (arg as { id: number }).id;
    } else {
      throw new Error(`not a Channel: ${String(arg)}`);
    }
  }

  /** Whether the page still listens (the Channel was not cleaned up). */
  get open(): boolean {
    return internals().callbacks.has(this.id);
  }

  /** Delivers one message; false when nobody listens any more. */
  send(message: T): boolean {
    if (!this.open) return false;
    internals().runCallback(this.id, { index: this.index++, message });
    return true;
  }

  /** Tells the page that no more messages come (Rust dropped the Channel). */
  end(): void {
    if (this.open) internals().runCallback(this.id, { index: this.index, end: true });
  }
}

// ---------------------------------------------------------------------------
// Data

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const now0 = Date.now();
const MIN = 60_000;

const NODE = "lab-rtx-01";
const SERVER = "https://hub.gantry.example.org";
const HOST_DIR = "/home/ana/.local/share/gantry";

function task(
  id: string,
  name: string,
  state: TaskState,
  image: string | null,
  startedMinAgo: number | null,
  extra: Partial<TaskView> = {},
): TaskView {
  return {
    id,
    name,
    state,
    image,
    reason: null,
    exit_code: null,
    started_at_ms: startedMinAgo === null ? null : now0 - startedMinAgo * MIN,
    finished_at_ms: null,
    pull: null,
    ...extra,
  };
}

/** The ids tests use. */
export const IDS = {
  running: "01J9ZK3TRAIN0000000000RN50",
  pulling: "01J9ZK4LLAMA000000000PULL1",
  paused: "01J9ZK5WHSPR00000000PAUSED",
  succeeded: "01J9ZJ1PREP000000000000OK1",
  failed: "01J9ZJ2RNDR00000000FAILED1",
  canceled: "01J9ZJ3SWEEP0000000CANCEL1",
} as const;

function initialTasks(): { tasks: TaskView[]; recent: TaskView[] } {
  return {
    tasks: [
      task(IDS.running, "train-resnet50", "running", "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime", 42),
      task(IDS.pulling, "llama3-finetune-lora", "pulling", "nvcr.io/nvidia/pytorch:24.07-py3", null, {
        pull: { done_bytes: 1_234_567_890, total_bytes: 4_567_890_123 },
      }),
      task(IDS.paused, "whisper-transcribe-batch7", "paused", "ghcr.io/ana-lab/whisper:large-v3", 95),
    ],
    recent: [
      task(IDS.succeeded, "preprocess-imagenet", "succeeded", "ghcr.io/ana-lab/preprocess:1.8", 180, {
        exit_code: 0,
        finished_at_ms: now0 - 121 * MIN,
      }),
      task(IDS.failed, "render-blender-scene12", "failed", "linuxserver/blender:4.2.1", 260, {
        exit_code: 137,
        reason: "The container ran out of memory (OOM killed)",
        finished_at_ms: now0 - 247 * MIN,
      }),
      task(IDS.canceled, "sweep-lr-0.003", "canceled", "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime", 320, {
        exit_code: 143,
        reason: "Canceled from the hub by ana",
        finished_at_ms: now0 - 300 * MIN,
      }),
    ],
  };
}

function gpuSamples(t: number, scenario: Scenario): { state: MetricsSample["gpu_state"]; message: string | null; gpus: GpuSample[] } {
  if (scenario.gpu === "none") return { state: "no_driver", message: null, gpus: [] };
  if (scenario.gpu === "error")
    return { state: "error", message: "NVML: Driver/library version mismatch (NVML_ERROR_LIB_RM_VERSION_MISMATCH)", gpus: [] };
  const s = t / 1000;
  // GPU 0 trains steadily with short dips (data loading, checkpoints); GPU 1 comes and goes.
  const dip = Math.floor(s) % 97 < 3 ? 45 : 0;
  const util0 = clamp(93 + 4 * Math.sin(s / 23) + 5 * (noise(s) - 0.5) - dip, 0, 100);
  const util1 = clamp(30 + 28 * Math.sin(s / 41 + 1) + 16 * (noise(s + 1000) - 0.5), 0, 100);
  const total = 25_757_220_864; // 24564 MiB
  return {
    state: "available",
    message: null,
    gpus: [
      {
        index: 0,
        name: "NVIDIA GeForce RTX 4090",
        utilization_percent: Math.round(util0),
        memory_used_bytes: Math.round(19.6 * GiB + 0.4 * GiB * Math.sin(s / 5)),
        memory_total_bytes: total,
        temperature_c: Math.round(68 + 4 * Math.sin(s / 30)),
      },
      {
        index: 1,
        name: "NVIDIA GeForce RTX 4090",
        utilization_percent: Math.round(util1),
        memory_used_bytes: Math.round(7.2 * GiB + 2 * GiB * Math.sin(s / 13)),
        memory_total_bytes: total,
        temperature_c: Math.round(51 + 6 * Math.sin(s / 23)),
      },
    ],
  };
}

/** A repeatable 0–1 jitter for second `s`. */
function noise(s: number): number {
  const x = Math.sin(Math.floor(s) * 12.9898) * 43758.5453;
  return x - Math.floor(x);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

const DISK_TOTAL = 1_920_383_410_176; // a 2 TB NVMe
const DISK_FREE = 712_458_113_024;

function metricsSample(at: number, scenario: Scenario): MetricsSample {
  const s = at / 1000;
  const g = gpuSamples(at, scenario);
  return {
    at_ms: at,
    cpu_percent: Math.round(clamp(46 + 14 * Math.sin(s / 29) + 12 * (noise(s + 7) - 0.5), 0, 100) * 10) / 10,
    cpu_cores: 32,
    memory_used_bytes: Math.round(71.5 * GiB + 3 * GiB * Math.sin(s / 40)),
    memory_total_bytes: 128 * GiB,
    disk_total_bytes: DISK_TOTAL,
    disk_free_bytes: DISK_FREE,
    gpu_state: g.state,
    gpu_message: g.message,
    gpus: g.gpus,
  };
}

const SPEC_RESNET = `name: train-resnet50
image: pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime
command: ["python", "train.py", "--arch", "resnet50", "--epochs", "90", "--batch-size", "256"]
resources:
  gpus: 1
  memory: 48Gi
  cpus: 12
env:
  NCCL_DEBUG: WARN
  DATA_DIR: /data/imagenet
inputs:
  - s3://ana-lab-datasets/imagenet/train.tar
outputs:
  - checkpoints/
  - metrics.json
`;

const SPEC_PREP = `name: preprocess-imagenet
image: ghcr.io/ana-lab/preprocess:1.8
command: ["python", "-m", "prep", "--resize", "256", "--workers", "24"]
resources:
  memory: 32Gi
  cpus: 24
outputs:
  - shards/
  - index.json
`;

function specFor(t: TaskView): string | null {
  if (t.id === IDS.running) return SPEC_RESNET;
  if (t.id === IDS.succeeded) return SPEC_PREP;
  if (t.id === IDS.canceled) return null; // "not known"
  return `name: ${t.name}\nimage: ${t.image ?? "busybox"}\ncommand: ["./run.sh"]\nresources:\n  gpus: 1\n`;
}

function timelineFor(t: TaskView): TimelineEntry[] {
  const start = t.started_at_ms ?? now0 - 2 * MIN;
  const out: TimelineEntry[] = [
    { state: "queued", at_ms: start - 95_000 },
    { state: "assigned", at_ms: start - 94_000 },
    { state: "pulling", at_ms: start - 93_500 },
  ];
  if (t.state === "pulling") return out;
  out.push({ state: "running", at_ms: start });
  if (t.state === "paused") out.push({ state: "paused", at_ms: start + 61 * MIN });
  if (t.finished_at_ms !== null) out.push({ state: t.state, at_ms: t.finished_at_ms });
  return out;
}

// ---------------------------------------------------------------------------
// Storage tree: a map from a folder's path to its entries.

type Tree = Map<string, StorageEntry[]>;

function file(path: string, size: number, minAgo: number, deletable = true): StorageEntry {
  return { name: path.split("/").pop() ?? path, path, dir: false, size_bytes: size, modified_ms: now0 - minAgo * MIN, files: 0, deletable };
}

/** Fills in folders' sizes, dates and counts from their contents, and sorts largest first. */
function folder(tree: Tree, path: string, entries: StorageEntry[], deletable = true): StorageEntry {
  entries.sort((a, b) => b.size_bytes - a.size_bytes);
  tree.set(path, entries);
  return {
    name: path.split("/").pop() ?? path,
    path,
    dir: true,
    size_bytes: entries.reduce((n, e) => n + e.size_bytes, 0),
    modified_ms: entries.reduce((m, e) => Math.max(m, e.modified_ms), 0),
    files: entries.reduce((n, e) => n + (e.dir ? e.files : 1), 0),
    deletable,
  };
}

function buildTree(scenario: Scenario): Tree {
  const tree: Tree = new Map();
  if (scenario.storage === "big") {
    const entries: StorageEntry[] = [];
    for (let i = 0; i < 100_000; i++) {
      const name = `frame_${String(i).padStart(6, "0")}.exr`;
      entries.push(file(name, 2_000_000 + ((i * 7919) % 1_000_000), (i * 13) % 5000));
    }
    folder(tree, "", entries);
    return tree;
  }
  const t = (id: string, entries: StorageEntry[], deletable = true) => folder(tree, `tasks/${id}`, entries, deletable);
  const p = (id: string, rest: string) => `tasks/${id}/${rest}`;
  const ckpt = folder(tree, p(IDS.running, "checkpoints"), [
    file(p(IDS.running, "checkpoints/epoch_010.pt"), 102_453_211, 30, false),
    file(p(IDS.running, "checkpoints/epoch_020.pt"), 102_453_211, 12, false),
  ], false);
  const tasks = folder(tree, "tasks", [
    t(IDS.running, [ckpt, file(p(IDS.running, "log.txt"), 8_812_345, 0, false), file(p(IDS.running, "job.yaml"), 612, 42, false)], false),
    t(IDS.succeeded, [
      folder(tree, p(IDS.succeeded, "shards"), Array.from({ length: 12 }, (_, i) =>
        file(p(IDS.succeeded, `shards/train-${String(i).padStart(5, "0")}-of-00012.tar`), 1_073_741_824 + i * 1_234_567, 125 + i),
      )),
      file(p(IDS.succeeded, "index.json"), 2_345_678, 121),
      file(p(IDS.succeeded, "log.txt"), 3_456_789, 121),
    ]),
    t(IDS.failed, [file(p(IDS.failed, "log.txt"), 145_678, 247), file(p(IDS.failed, "core.12345"), 3_221_225_472, 247)]),
    t(IDS.canceled, [file(p(IDS.canceled, "log.txt"), 45_678, 300)]),
    t(IDS.paused, [file(p(IDS.paused, "log.txt"), 1_245_678, 35, false), file(p(IDS.paused, "transcripts.jsonl"), 56_789_012, 35, false)], false),
  ]);
  const cache = folder(tree, "cache", [
    folder(tree, "cache/huggingface", [
      file("cache/huggingface/Meta-Llama-3-8B.safetensors", 16_060_522_496, 2000),
      file("cache/huggingface/whisper-large-v3.safetensors", 3_087_007_744, 4000),
    ]),
    folder(tree, "cache/pip", [file("cache/pip/torch-2.4.0-cp311-linux_x86_64.whl", 797_212_345, 9000)]),
  ]);
  const datasets = folder(tree, "datasets", [
    file("datasets/imagenet-train.tar", 147_897_477_120, 30_000),
    file("datasets/imagenet-val.tar", 6_744_924_160, 30_000),
  ]);
  const agent = folder(tree, ".gantry", [file(".gantry/state.db", 1_245_184, 1, false), file(".gantry/agent.toml", 412, 9000, false)], false);
  folder(tree, "", [tasks, cache, datasets, agent, file("README.txt", 1_204, 40_000)]);
  return tree;
}

/** Removes `path` from the tree and shrinks its folders' totals. */
function removeFromTree(tree: Tree, path: string): boolean {
  const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
  const entries = tree.get(parent);
  const i = entries?.findIndex((e) => e.path === path) ?? -1;
  if (!entries || i < 0) return false;
  const [gone] = entries.splice(i, 1);
  for (const key of [...tree.keys()]) if (key === path || key.startsWith(`${path}/`)) tree.delete(key);
  // Every ancestor folder's entry gets smaller.
  let child = parent;
  while (child !== "") {
    const up = child.includes("/") ? child.slice(0, child.lastIndexOf("/")) : "";
    const e = tree.get(up)?.find((x) => x.path === child);
    if (e) {
      e.size_bytes -= gone.size_bytes;
      e.files -= gone.dir ? gone.files : 1;
    }
    child = up;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Updates

const UPDATE_SERVER = "https://updates.gantry.example.org/{{target}}/{{arch}}/{{current_version}}/latest.json";
const UPDATE_NOTES = "Pause a single GPU from the tray.\nLogs: search with regular expressions is twice as fast.\nFixes: the tray icon no longer flickers when a task is pulling.";
/** The download's size in the mock: 84.2 MB. */
export const UPDATE_BYTES = 84_213_760;

function initialUpdate(scenario: Scenario): UpdateState {
  const checked = { at_ms: now0 - 2 * 60 * MIN, error: null };
  const base: UpdateState = {
    current_version: "0.1.0",
    has_key: true,
    endpoint: UPDATE_SERVER,
    endpoint_locked: false,
    last_check: checked,
    available: null,
    installing: false,
  };
  switch (scenario.update) {
    case "available":
    case "badsig":
      return { ...base, available: { version: "0.2.0", notes: UPDATE_NOTES, published_ms: now0 - 26 * 60 * MIN } };
    case "unreachable":
      return {
        ...base,
        last_check: { at_ms: checked.at_ms, error: "The update server cannot be reached (dns error: failed to lookup address information); check the network connection and the address, then try again." },
      };
    case "off":
      return { ...base, endpoint: null, last_check: null };
    case "nokey":
      return { ...base, has_key: false, endpoint: null, last_check: null };
    case "locked":
      return { ...base, endpoint: "https://mirror.lab.example.org/gantry/latest.json", endpoint_locked: true };
    default:
      return base;
  }
}

// ---------------------------------------------------------------------------
// Logs

const ESC = "\x1b";

/** A line of a training log, with a little ANSI colour, numbered by `n` (from 1). */
export function trainLine(n: number): string {
  const epoch = 1 + Math.floor(n / 5005);
  const loss = (2.5 * Math.exp(-n / 40000) + 0.15 + 0.05 * Math.sin(n)).toFixed(4);
  if (n % 500 === 0) return `${ESC}[33mWARN${ESC}[0m step ${String(n).padStart(7, "0")} dataloader worker 3 slow (412 ms)`;
  if (n % 97 === 0)
    return `${ESC}[32mINFO${ESC}[0m step ${String(n).padStart(7, "0")} epoch ${epoch} ${ESC}[1mcheckpoint${ESC}[0m saved checkpoints/epoch_${String(epoch).padStart(3, "0")}.pt`;
  return `${ESC}[32mINFO${ESC}[0m step ${String(n).padStart(7, "0")} epoch ${epoch} loss=${loss} lr=0.1000 img/s=${2400 + (n % 97)}`;
}

/** Lines `from`..`to` (1-based, inclusive), each ended by "\n". */
function lines(from: number, to: number, make: (n: number) => string = trainLine): string {
  const parts: string[] = [];
  for (let n = from; n <= to; n++) parts.push(make(n));
  return parts.length ? `${parts.join("\n")}\n` : "";
}

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------
// The backend

type Call = { cmd: string; args: unknown; at: number };

type Follow = {
  subscription: number;
  taskId: string;
  channel: MockChannel<LogBatch>;
  offset: number;
  /** Lines sent so far (for numbering the feed). */
  lines: number;
  closed: boolean;
};

export type FeedOptions = {
  /** The task whose followers get the lines (default: the running task). */
  taskId?: string;
  /** Lines per batch (default 1000). */
  lines?: number;
  /** Milliseconds between batches (default 100). */
  every?: number;
  /** How many batches (default 50). */
  batches?: number;
};

export type MockControl = {
  scenario: Scenario;
  ids: typeof IDS;
  /** Every command invoked, in order (channels shown as "[channel]"). */
  calls: Call[];
  /** The calls of one command. */
  callsOf: (cmd: string) => Call[];
  /** Commands the mock did not know. */
  unknown: string[];
  /** Sends an app event, as src-tauri would (e.g. "open-task" with { id }). */
  emit: (event: string, payload?: unknown) => Promise<void>;
  /** Pushes lines to a task's log followers; resolves to the number of lines sent when done. */
  feed: (options?: FeedOptions) => Promise<number>;
  /** How many log followers are open now. */
  followers: () => number;
  /** The bytes of log sent so far to the newest follower of a task. */
  logBytes: (taskId: string) => number;
  /** Milliseconds the mock spent making log text, and the page spent in the channel's handler (LogView's onmessage). */
  logCost: () => { makeMs: number; deliverMs: number; batches: number };
  /** The status as the mock holds it now. */
  status: () => Status;
  /** Pauses or resumes the moving metrics and pull progress (screenshots want still data). */
  freeze: (frozen: boolean) => void;
  /** Makes the next call of `cmd` fail with this message. */
  failNext: (cmd: string, message: string) => void;
  /** Marks a Settings field as set by the environment or agent.toml (`locked`), from the next node_settings on. */
  lock: (field: string) => void;
};

export function installMockBackend(scenario: Scenario): MockControl {
  const local = scenario.mode === "local";
  const { tasks, recent } = scenario.tasks === "none" ? { tasks: [], recent: [] } : initialTasks();
  let paused = false;
  let frozen = false;
  let notifications: Notifications = { succeeded: true, failed: true, canceled: false };
  let launchAtLogin = true;
  let settings: NodeSettings = {
    mode: local ? "local" : "remote",
    server: local ? null : SERVER,
    token_saved: !local,
    ca_file: null,
    name: NODE,
    name_note: local
      ? null
      : "The hub names this computer; its admin renames it with gantry node rename. A new name shows here within a heartbeat.",
    labels: ["gpu=rtx4090", "zone=lab-2", "fast-disk"],
    max_tasks: 2,
    host_dir: HOST_DIR,
    with_local_storage: false,
    delete_task_dir_on_finish: false,
    delete_task_dir_on_failure: false,
    notifications,
    launch_at_login: launchAtLogin,
    locked: ["host_dir"],
    step_aside: {
      yield_when_active: null,
      yield_on_battery: false,
      quiet_hours: [],
      exclusive_app: [],
      ignore_gpu_programs: false,
      yield_above_temp: null,
      yield_action: "freeze",
      yield_grace: 10,
      settle: 60,
      reserve_gpu: [],
      notify: false,
    },
    image_policy: { rule: "any", patterns: [] },
    task_isolation: { task_network: "full", task_network_allow: [], read_only_root: false, task_pids_limit: 4096 },
  };
  let disk: DiskSettings = {
    disk_max_gb: null,
    disk_max_percent: 50,
    disk_min_free_gb: 10,
    disk_evict_unsynced_results: false,
  };
  const tree = buildTree(scenario);
  const calls: Call[] = [];
  const unknown: string[] = [];
  const failures = new Map<string, string>();
  const statusChannels: MockChannel<Status>[] = [];
  const metricsChannels: MockChannel<MetricsSample[]>[] = [];
  const follows = new Map<number, Follow>();
  let nextSubscription = 1;
  const cost = { makeMs: 0, deliverMs: 0, batches: 0 };
  let nextTask = 1;
  let update = initialUpdate(scenario);

  const allTasks = () => [...tasks, ...recent];
  const findTask = (id: string) => allTasks().find((t) => t.id === id);

  function status(): Status {
    const g = gpuSamples(Date.now(), scenario);
    return {
      connection: local ? "local" : "connected",
      node: settings.name,
      server: local ? null : SERVER,
      paused,
      paused_until_ms: paused ? Date.now() + 2 * 3600_000 : null,
      draining: false,
      tasks: tasks.map((t) => ({ ...t, pull: t.pull ? { ...t.pull } : null })),
      recent: recent.map((t) => ({ ...t })),
      docker_problem: null,
      gpu_percent: g.gpus.length ? g.gpus.reduce((n, x) => n + x.utilization_percent, 0) / g.gpus.length : null,
      host_dir: settings.host_dir,
      yielding: settings.step_aside.quiet_hours.includes("mon-sun 00:00-24:00") ? "Paused for quiet hours" : null,
    };
  }

  function pushStatus() {
    const s = status();
    for (const ch of statusChannels) ch.send(s);
  }

  // The world moves once a second: a metrics sample, the pull's progress.
  setInterval(() => {
    if (frozen) return;
    const sample = metricsSample(Date.now(), scenario);
    for (const ch of metricsChannels) ch.send([sample]);
    const pulling = tasks.find((t) => t.state === "pulling" && t.pull);
    if (pulling?.pull) {
      pulling.pull.done_bytes = Math.min(pulling.pull.total_bytes, pulling.pull.done_bytes + 23_456_789);
    }
    pushStatus();
  }, 1000);

  function setupState(): Setup {
    return {
      needs_setup: scenario.setup === "removed",
      server: local ? null : SERVER,
      host_dir: settings.host_dir,
      keychain: { ok: true, summary: "Secret Service (GNOME Keyring) is available", guidance: null },
      docker: { ok: true, summary: "Docker Engine 27.3.1 is running", guidance: null },
      gpu:
        scenario.gpu === "two"
          ? { ok: true, summary: "2 NVIDIA GPUs: NVIDIA GeForce RTX 4090 ×2 (driver 560.35.03)", guidance: null }
          : { ok: false, summary: "No NVIDIA driver found", guidance: "Install the NVIDIA driver to run GPU tasks." },
      launch_at_login: launchAtLogin,
      notifications,
      problem: null,
      ca_file: settings.ca_file,
      allow_insecure_http: false,
      reason:
        scenario.setup === "removed"
          ? "node lab-rtx-01 was removed from the hub at 2026-12-06 14:03 UTC; its tasks were canceled. Ask the hub's admin for a new node (gantry hub node add) and start the agent with its token"
          : null,
    };
  }

  function containers(): ContainerView[] {
    const out: ContainerView[] = [];
    if (scenario.tasks === "none") return out;
    const made = (minAgo: number) => now0 - minAgo * MIN;
    out.push({
      id: "3f9c2a1b7d4e",
      name: `gantry-${IDS.running.toLowerCase()}-main`,
      task_id: IDS.running,
      task_name: "train-resnet50",
      role: "main",
      image: "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime",
      state: "running",
      status: "Up 42 minutes",
      created_ms: made(42),
      cpu_percent: 1143.7,
      memory_bytes: Math.round(31.4 * GiB),
      memory_limit_bytes: 48 * GiB,
    });
    out.push({
      id: "8a1d0e6f5c32",
      name: `gantry-${IDS.running.toLowerCase()}-service-redis`,
      task_id: IDS.running,
      task_name: "train-resnet50",
      role: "service:redis",
      image: "redis:7.4-alpine",
      state: "running",
      status: "Up 42 minutes",
      created_ms: made(42),
      cpu_percent: 2.3,
      memory_bytes: 18 * MiB,
      memory_limit_bytes: 128 * GiB,
    });
    out.push({
      id: "c47e9b2a0f18",
      name: `gantry-${IDS.paused.toLowerCase()}-main`,
      task_id: IDS.paused,
      task_name: "whisper-transcribe-batch7",
      role: "main",
      image: "ghcr.io/ana-lab/whisper:large-v3",
      state: "paused",
      status: "Up 1 hour (Paused)",
      created_ms: made(95),
      cpu_percent: 0,
      memory_bytes: Math.round(9.8 * GiB),
      memory_limit_bytes: 16 * GiB,
    });
    out.push({
      id: "5b2f8e1c9a07",
      name: `gantry-${IDS.failed.toLowerCase()}-main`,
      task_id: IDS.failed,
      task_name: "render-blender-scene12",
      role: "main",
      image: "linuxserver/blender:4.2.1",
      state: "exited",
      status: "Exited (137) 4 hours ago",
      created_ms: made(260),
      cpu_percent: null,
      memory_bytes: null,
      memory_limit_bytes: null,
    });
    out.push({
      id: "e0d7a3c6b591",
      name: `gantry-${IDS.failed.toLowerCase()}-epilogue`,
      task_id: IDS.failed,
      task_name: "render-blender-scene12",
      role: "epilogue",
      image: "ghcr.io/gantry/epilogue:0.9",
      state: "exited",
      status: "Exited (0) 4 hours ago",
      created_ms: made(247),
      cpu_percent: null,
      memory_bytes: null,
      memory_limit_bytes: null,
    });
    out.push({
      id: "71aa09d3e2f4",
      name: "gantry-orphan-7d3e",
      task_id: null,
      task_name: null,
      role: "main",
      image: "busybox:1.36",
      state: "created",
      status: "Created",
      created_ms: made(600),
      cpu_percent: null,
      memory_bytes: null,
      memory_limit_bytes: null,
    });
    return out;
  }

  function taskDetail(id: string): TaskDetail {
    const t = findTask(id);
    if (!t) throw uiError("unknown_task", `No task ${id} on this node.`);
    const outputs =
      t.id === IDS.succeeded
        ? (tree.get(`tasks/${id}/shards`) ?? []).slice(0, 3).map((e) => ({ path: e.path, name: e.path.slice(`tasks/${id}/`.length), size_bytes: e.size_bytes }))
            .concat([{ path: `tasks/${id}/index.json`, name: "index.json", size_bytes: 2_345_678 }])
        : t.id === IDS.running
          ? [
              { path: `tasks/${id}/checkpoints/epoch_010.pt`, name: "checkpoints/epoch_010.pt", size_bytes: 102_453_211 },
              { path: `tasks/${id}/checkpoints/epoch_020.pt`, name: "checkpoints/epoch_020.pt", size_bytes: 102_453_211 },
            ]
          : [];
    const live = t.state === "running" || t.state === "paused";
    return {
      task: { ...t },
      spec: specFor(t),
      timeline: timelineFor(t),
      folder: t.state === "pulling" ? null : `tasks/${id}`,
      outputs,
      log_bytes: t.id === IDS.running ? 8_812_345 : 3_456_789,
      usage: live
        ? {
            cpu_percent: t.state === "running" ? 1143.7 : 0,
            memory_bytes: t.state === "running" ? Math.round(31.4 * GiB) : Math.round(9.8 * GiB),
            memory_limit_bytes: t.state === "running" ? 48 * GiB : 16 * GiB,
            gpu_memory_bytes: scenario.gpu === "two" ? Math.round(18.9 * GiB) : null,
          }
        : null,
      gpu_use: t.id === IDS.running && scenario.gpu === "two" ? gpuUse() : null,
    };
  }

  /** The running task's GPU use: 2 GPUs for 40 minutes, a sample every 20 s. */
  function gpuUse(): TaskGpuUseView {
    const now = Date.now();
    const series = Array.from({ length: 120 }, (_, i) => ({
      at_ms: now - (119 - i) * 20_000,
      memory_bytes: Math.round((12 + 6.9 * Math.min(1, i / 20)) * GiB),
      utilization_percent: i < 3 ? 0 : 70 + ((i * 37) % 25),
    }));
    return {
      gpus: 2,
      gpu_seconds: 4_800,
      memory_bytes: Math.round(18.9 * GiB),
      memory_peak_bytes: Math.round(19.4 * GiB),
      utilization_percent: 83,
      utilization_mean_percent: 78.4,
      energy_wh: 412.6,
      energy_shared: false,
      ended: false,
      series,
    };
  }

  /** Storage's disk budget: a 1 TB disk, Gantry holding 64 GB of its 500 GB share. */
  function diskBudget(): DiskBudgetView {
    const GB = 1e9;
    const now = Date.now();
    return {
      disk_total: 1000 * GB,
      disk_free: 412 * GB,
      limit: 500 * GB,
      tightest: "max_percent",
      used: 64 * GB,
      by_kind: [
        { kind: "image", bytes: 48 * GB, evictable_bytes: 30 * GB },
        { kind: "blob", bytes: 6 * GB, evictable_bytes: 2 * GB },
        { kind: "result", bytes: 5 * GB, evictable_bytes: 0 },
        { kind: "task_folder", bytes: 2 * GB, evictable_bytes: 2 * GB },
        { kind: "checkpoints", bytes: 3 * GB, evictable_bytes: 1 * GB },
      ],
      next: [
        { kind: "image", name: "nvcr.io/nvidia/pytorch:24.05-py3", bytes: 18 * GB, at: now - 9 * 86_400_000 },
        { kind: "task_folder", name: "t-0193", bytes: 1.2 * GB, at: now - 3 * 86_400_000 },
        { kind: "checkpoints", name: "t-0188", bytes: 1 * GB, at: now - 2 * 86_400_000 },
      ],
      evicted: [{ kind: "image", name: "nvcr.io/nvidia/cuda:12.2.0-devel", bytes: 9 * GB, at: now - 86_400_000 }],
      images_counted: true,
      settings: disk,
      locked: false,
    };
  }

  /** Settings → Health: gantry doctor's checks as a desktop without an NVIDIA GPU sees them. */
  function healthChecks(): HealthCheck[] {
    const ok = (name: string, message: string): HealthCheck => ({ name, status: "ok", message, fix: "" });
    return [
      ok("config", "the agent's settings are valid (host dir /home/ana/.local/share/gantry/agent)"),
      ok("docker", "Docker 27.3.1 (API 1.47) answers at unix:///var/run/docker.sock"),
      ok("cgroup", "the engine runs containers under cgroup v2, systemd driver, and the freezer is there, so tasks can be paused"),
      ok("nvidia-driver", "no NVIDIA driver (NVML is not installed): this node takes tasks that need no GPU"),
      ok("nvidia-toolkit", "not needed: no NVIDIA GPU here, and no NVIDIA Container Toolkit found"),
      ok("hub", "a Gantry hub 0.1.0 answers at https://hub.lab.example.org (38 ms), and it takes this node's token"),
      ok("tls", "the hub's certificate is valid for https://hub.lab.example.org and trusted by the system's root certificates"),
      ok("proxy", "no proxy applies: requests go straight to the hub"),
      {
        name: "clock",
        status: "warning",
        message: "this clock is 42 s behind the hub's: the times this node reports (yielding, GPU use, logs) disagree with the hub's",
        fix: "turn on time synchronisation on this machine (timedatectl set-ntp true) or on the hub's, whichever is wrong",
      },
      ok("disk", "Gantry holds 3.2 GB in /home/ana/.local/share/gantry/agent; the budget allows 250.0 GB (set by --disk-max-percent 50), 310.4 GB free on the disk: 246.8 GB more fits"),
      ok("keychain", "the system keychain answers and can keep the node token"),
      ok("control-socket", "the agent ana-desktop answers on /home/ana/.local/share/gantry/agent/agent.sock: connected to the hub, 1 task held"),
    ];
  }

  function uiError(code: string, message: string): UiError {
    return { code, message };
  }

  function listing(path: string): StorageListing {
    const entries = tree.get(path);
    if (!entries) throw uiError("not_found", `${path} is not a folder of the storage folder.`);
    return {
      path,
      root: settings.host_dir,
      entries: entries.map((e) => ({ ...e })),
      total_bytes: entries.reduce((n, e) => n + e.size_bytes, 0),
      disk_total_bytes: DISK_TOTAL,
      disk_free_bytes: DISK_FREE,
    };
  }

  // --- logs -------------------------------------------------------------

  function sendBatch(f: Follow, text: string, done: boolean, count: number, t0: number, step: number): boolean {
    if (f.closed) return false;
    f.offset += encoder.encode(text).length;
    const line_ms: number[] = [];
    for (let i = 0; i < count; i++) line_ms.push(Math.round(t0 + i * step));
    f.lines += count;
    const d0 = performance.now();
    const ok = f.channel.send({ text, offset: f.offset, done, line_ms });
    cost.deliverMs += performance.now() - d0;
    cost.batches += 1;
    if (!ok) f.closed = true;
    return ok;
  }

  function startFollow(f: Follow) {
    const t = findTask(f.taskId);
    if (!t) {
      // Nothing to show yet.
      return;
    }
    const finished = t.finished_at_ms !== null;
    if (scenario.log === "1m" && t.id === IDS.succeeded) {
      // A finished task with a 1,000,000-line log, sent as src-tauri's
      // logs.rs does: batches of at most 512 KiB, back to back, then done.
      const total = 1_000_000;
      const perBatch = 9000; // ~57 bytes a line: about 512 KiB
      let n = 1;
      const start = (t.started_at_ms ?? now0) as number;
      const step = ((t.finished_at_ms ?? now0) - start) / total;
      const next = () => {
        if (f.closed) return;
        const to = Math.min(total, n + perBatch - 1);
        const m0 = performance.now();
        const text = lines(n, to);
        cost.makeMs += performance.now() - m0;
        const ok = sendBatch(f, text, to === total, to - n + 1, start + n * step, step);
        n = to + 1;
        if (ok && n <= total) setTimeout(next, 0);
      };
      setTimeout(next, 0);
      return;
    }
    // Other logs: a few hundred lines, as the first batch; finished tasks end there.
    const count = t.id === IDS.running ? 400 : t.state === "pulling" ? 0 : 250;
    const start = t.started_at_ms ?? now0;
    let text = "";
    if (t.state === "pulling") {
      text = "";
    } else if (t.id === IDS.failed) {
      text =
        lines(1, count - 4) +
        `${ESC}[31mERROR${ESC}[0m Blender quit unexpectedly: memory allocation failed (requested 6.2 GiB)\n` +
        "Traceback (most recent call last):\n" +
        '  File "/opt/render.py", line 88, in <module>\n' +
        "Killed\n";
    } else {
      text = lines(1, count);
    }
    const n = text === "" ? 0 : text.split("\n").length - 1;
    const end = t.finished_at_ms ?? Date.now();
    setTimeout(() => sendBatch(f, text, finished, n, start, n > 0 ? (end - start) / n : 0), 0);
  }

  function feed(options: FeedOptions = {}): Promise<number> {
    const taskId = options.taskId ?? IDS.running;
    const per = options.lines ?? 1000;
    const every = options.every ?? 100;
    const batches = options.batches ?? 50;
    return new Promise((resolve) => {
      let sent = 0;
      let b = 0;
      const timer = setInterval(() => {
        const targets = [...follows.values()].filter((f) => f.taskId === taskId && !f.closed);
        for (const f of targets) {
          const from = f.lines + 1;
          const m0 = performance.now();
          const text = lines(from, from + per - 1);
          cost.makeMs += performance.now() - m0;
          sendBatch(f, text, false, per, Date.now() - every, every / per);
        }
        sent += per;
        b += 1;
        if (b >= batches) {
          clearInterval(timer);
          resolve(sent);
        }
      }, every);
    });
  }

  // --- updates ------------------------------------------------------------

  function updateState(): UpdateState {
    return {
      ...update,
      last_check: update.last_check ? { ...update.last_check } : null,
      available: update.available ? { ...update.available } : null,
    };
  }

  /** A check as src-tauri makes one: kept in the state, and a UiError when it fails. */
  function checkUpdate(): UpdateState {
    if (!update.has_key) throw uiError("no_update_key", "This build has no update key, so it cannot update itself; install Gantry from a release package to get updates.");
    if (update.endpoint === null) throw uiError("no_update_server", "No update server is set; enter its address under Update server.");
    if (scenario.update === "unreachable") {
      const message = "The update server cannot be reached (dns error: failed to lookup address information); check the network connection and the address, then try again.";
      update = { ...update, last_check: { at_ms: Date.now(), error: message } };
      throw uiError("unreachable", message);
    }
    const offered = scenario.update === "available" || scenario.update === "badsig";
    update = {
      ...update,
      last_check: { at_ms: Date.now(), error: null },
      available: offered ? { version: "0.2.0", notes: UPDATE_NOTES, published_ms: now0 - 26 * 60 * MIN } : null,
    };
    return updateState();
  }

  function setUpdateEndpoint(text: string): UpdateState {
    if (update.endpoint_locked) throw uiError("locked", "GANTRY_UPDATE_ENDPOINT sets the update server; change it there.");
    const endpoint = text.trim();
    if (endpoint !== "") {
      const loopback = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])([:/]|$)/i.test(endpoint);
      if (!/^https:\/\/[^/]+/i.test(endpoint) && !loopback) {
        throw uiError(
          "insecure_address",
          `The update server's address must start with https:// (http:// is accepted only to this computer: 127.0.0.1, ::1 or localhost); "${endpoint}" does not.`,
        );
      }
    }
    update = { ...update, endpoint: endpoint === "" ? null : endpoint, last_check: null, available: null };
    if (update.has_key && update.endpoint !== null) {
      try {
        checkUpdate();
      } catch {
        // Kept in last_check, as src-tauri does.
      }
    }
    return updateState();
  }

  /** Sends the download's progress over the channel, then the install; fails on the signature in "badsig". */
  function installUpdate(channel: MockChannel<UpdateProgress>): Promise<null> {
    if (!update.available) return Promise.reject(uiError("no_update", "There is no update to install; check for one first."));
    update = { ...update, installing: true };
    const steps = 8;
    return new Promise((resolve, reject) => {
      let i = 0;
      const timer = setInterval(() => {
        i += 1;
        const done = Math.round((UPDATE_BYTES * Math.min(i, steps)) / steps);
        if (i <= steps) {
          channel.send({ step: "downloading", done_bytes: done, total_bytes: UPDATE_BYTES });
          return;
        }
        clearInterval(timer);
        update = { ...update, installing: false };
        if (scenario.update === "badsig") {
          reject(
            uiError(
              "bad_signature",
              "The downloaded update is not signed with Gantry's update key, so it was not installed; it may have been damaged or tampered with on the way (Signature verification failed).",
            ),
          );
          return;
        }
        channel.send({ step: "installing", done_bytes: UPDATE_BYTES, total_bytes: UPDATE_BYTES });
        setTimeout(() => {
          channel.send({ step: "restarting", done_bytes: 0, total_bytes: null });
          resolve(null);
        }, 150);
      }, 120);
    });
  }

  // --- commands -----------------------------------------------------------

  function sanitize(args: unknown): unknown {
    if (args === undefined || args === null || typeof args !== "object") return args ?? null;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(args as Record<string, unknown>)) {
      const isChannel =
        (typeof v === "string" && v.startsWith("__CHANNEL__:")) ||
        (typeof v === "object" && v !== null && typeof (v as { id?: unknown }).id === "number" && "onmessage" in v);
      out[k] = isChannel ? "[channel]" : JSON.parse(JSON.stringify(v ?? null));
    }
    return out;
  }

  function handle(cmd: string, args: Record<string, unknown>): unknown {
    switch (cmd) {
      case "setup_state":
        return setupState();
      case "connect":
      case "use_local":
        return null;
      case "status":
        return status();
      case "watch_status": {
        const ch = new MockChannel<Status>(args.onEvent);
        statusChannels.push(ch);
        setTimeout(() => ch.send(status()), 0);
        return null;
      }
      case "pause_task":
      case "resume_task":
      case "cancel_task": {
        const t = tasks.find((x) => x.id === args.id);
        if (!t) throw uiError("unknown_task", `No task ${String(args.id)} is held.`);
        if (cmd === "pause_task") t.state = "paused";
        else if (cmd === "resume_task") t.state = "running";
        else {
          t.state = "canceled";
          t.finished_at_ms = Date.now();
          t.reason = "Canceled on this computer";
          t.exit_code = 143;
          tasks.splice(tasks.indexOf(t), 1);
          recent.unshift(t);
        }
        setTimeout(pushStatus, 50);
        return null;
      }
      case "pause_all":
        paused = true;
        setTimeout(pushStatus, 50);
        return null;
      case "resume_all":
        paused = false;
        setTimeout(pushStatus, 50);
        return null;
      case "follow_log": {
        const f: Follow = {
          subscription: nextSubscription++,
          taskId: String(args.id),
          channel: new MockChannel<LogBatch>(args.onEvent),
          offset: 0,
          lines: 0,
          closed: false,
        };
        follows.set(f.subscription, f);
        startFollow(f);
        return f.subscription;
      }
      case "unfollow_log": {
        const f = follows.get(Number(args.subscription));
        if (f) {
          f.closed = true;
          f.channel.end();
          follows.delete(f.subscription);
        }
        return null;
      }
      case "open_storage":
        return null;
      case "set_notifications":
        notifications = { ...(args.notifications as Notifications) };
        settings = { ...settings, notifications };
        return null;
      case "set_launch_at_login":
        launchAtLogin = Boolean(args.enabled);
        settings = { ...settings, launch_at_login: launchAtLogin };
        return null;
      case "watch_metrics": {
        const ch = new MockChannel<MetricsSample[]>(args.onEvent);
        metricsChannels.push(ch);
        const t = Date.now();
        const history: MetricsSample[] = [];
        for (let i = 299; i >= 1; i--) history.push(metricsSample(t - i * 1000, scenario));
        setTimeout(() => ch.send(history), 0);
        return null;
      }
      case "containers":
        return containers();
      case "task_detail":
        return taskDetail(String(args.id));
      case "save_log": {
        const t = findTask(String(args.id));
        return `/home/ana/Downloads/${t?.name ?? "task"}.log`;
      }
      case "storage_list":
        return listing(String(args.path ?? ""));
      case "storage_delete": {
        const path = String(args.path);
        const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
        const e = tree.get(parent)?.find((x) => x.path === path);
        if (!e) throw uiError("not_found", `${path} is not in the storage folder.`);
        if (!e.deletable) throw uiError("in_use", `${path} belongs to a running task or to the agent.`);
        removeFromTree(tree, path);
        return null;
      }
      case "storage_open":
        return null;
      case "health":
        return healthChecks();
      case "this_week":
        // What a week of training on one GPU looks like from the hub.
        return { gpu_hours: 31.4, kwh: 9.8, cpu_hours: 52.7, tasks: 14, since: Number(args.since ?? 0) };
      case "disk_budget":
        return diskBudget();
      case "save_disk_settings":
        disk = args.settings as DiskSettings;
        return null;
      case "save_task_isolation": {
        // The backend's checks, in its words (desktop-core's task_isolation).
        const i = args.isolation as TaskIsolation;
        if (i.task_pids_limit > 0 && i.task_pids_limit < 16) {
          throw uiError("bad_setting", `At most ${i.task_pids_limit} processes is too few for a task's programs to start; give 16 or more (Gantry's default is 4096), or 0 for no limit`);
        }
        if (i.task_network_allow.length > 0 && i.task_network !== "no-private") {
          throw uiError("bad_setting", 'Private ranges tasks may still reach only apply to "The internet, not my private networks": choose it, or empty the list');
        }
        settings = { ...settings, task_isolation: { ...i, task_network_allow: [...i.task_network_allow] } };
        return null;
      }
      case "save_image_policy":
        settings = { ...settings, image_policy: args.choice as NodeSettings["image_policy"] };
        return null;
      case "node_settings":
        return { ...settings, labels: [...settings.labels], locked: [...settings.locked], notifications: { ...notifications }, launch_at_login: launchAtLogin };
      case "save_node_settings": {
        const c = args.change as NodeSettingsChange;
        if (!(c.max_tasks >= 1)) throw uiError("invalid", "Max tasks must be 1 or more.");
        if (settings.name_note !== null && c.name !== settings.name) throw uiError("bad_setting", settings.name_note);
        settings = { ...settings, ...c };
        setTimeout(pushStatus, 50);
        return null;
      }
      case "save_step_aside": {
        const rules = args.rules as StepAside;
        const bad = rules.quiet_hours.find((q) => !/^[a-z,-]+ \d\d:\d\d-\d\d:\d\d$/.test(q));
        if (bad !== undefined) throw uiError("bad_setting", `Quiet hours "${bad}": write the days, a space and the hours, e.g. mon-fri 09:00-18:00`);
        settings = { ...settings, step_aside: { ...rules } };
        setTimeout(pushStatus, 50);
        return null;
      }
      case "take_intent":
        return null;
      case "set_ca_file": {
        const caFile = args.caFile as string | null;
        if (caFile !== null && !caFile.startsWith("/")) {
          throw uiError("bad_setting", "The CA file must be a full path, e.g. /home/you/team-ca.pem");
        }
        settings = { ...settings, ca_file: caFile };
        return null;
      }
      case "replace_token":
        if (String(args.token).length < 8) throw uiError("token_refused", "The hub refused this token.");
        return null;
      case "submit_task": {
        if (!local) throw uiError("not_local", "Tasks are submitted on the hub in remote mode.");
        const nt = args.task as NewTask;
        if (!nt.image) throw uiError("invalid", "An image is needed.");
        const id = `01JLOCAL${String(nextTask++).padStart(18, "0")}`;
        tasks.push(task(id, nt.name || nt.image, "queued", nt.image, null));
        setTimeout(pushStatus, 0);
        return id;
      }
      case "run_job_file":
        return null;
      case "update_state":
        return updateState();
      case "check_update":
        return checkUpdate();
      case "set_update_endpoint":
        return setUpdateEndpoint(String(args.endpoint ?? ""));
      case "install_update":
        return installUpdate(new MockChannel<UpdateProgress>(args.onProgress));
      default:
        unknown.push(cmd);
        console.warn(`mock backend: unknown command ${cmd}`);
        return null;
    }
  }

  mockWindows("main");
  mockIPC(
    async (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      calls.push({ cmd, args: sanitize(args), at: performance.now() });
      if (scenario.latency > 0) await new Promise((r) => setTimeout(r, scenario.latency));
      const failure = failures.get(cmd);
      if (failure !== undefined) {
        failures.delete(cmd);
        throw uiError("test_failure", failure);
      }
      try {
        return handle(cmd, args);
      } catch (e) {
        // Commands reject with a UiError, as src-tauri's do.
        throw e instanceof Error ? uiError("internal", e.message) : e;
      }
    },
    { shouldMockEvents: true },
  );

  return {
    scenario,
    ids: IDS,
    calls,
    callsOf: (cmd) => calls.filter((c) => c.cmd === cmd),
    unknown,
    emit: (event, payload) => emit(event, payload),
    feed,
    followers: () => [...follows.values()].filter((f) => !f.closed && f.channel.open).length,
    logCost: () => ({ makeMs: Math.round(cost.makeMs), deliverMs: Math.round(cost.deliverMs), batches: cost.batches }),
    logBytes: (taskId) => [...follows.values()].filter((f) => f.taskId === taskId).at(-1)?.offset ?? 0,
    status,
    freeze: (v) => {
      frozen = v;
    },
    lock: (field) => {
      settings = { ...settings, locked: [...settings.locked, field] };
    },
    failNext: (cmd, message) => {
      failures.set(cmd, message);
    },
  };
}
