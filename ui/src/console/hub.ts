// The console's one door to the hub: every call here is an operation of the
// hub's OpenAPI document (/v1/openapi.json); nothing else talks to the hub.
//
// Authentication is the `gantry_session` cookie (HttpOnly: this code never
// sees it). The admin token is sent once, in `signIn`'s body, and never kept.
// Calls that change something carry the session's CSRF value in the
// `X-Gantry-Csrf` header; the hub refuses them without it (a page of another
// site cannot read the value, so it cannot forge the call).

import type { TaskState } from "../bindings";

export type { TaskState };

/** Milliseconds since the Unix epoch, as the hub writes times. */
export type Millis = number;

/** A refusal from the hub: its stable code and its sentence. */
export class HubError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// ---- types (the hub's JSON; see crates/protocol/src/wire.rs and admin.rs) ----

export type SessionInfo = { name: string; expires_at: Millis; csrf: string };

export type GpuInfo = {
  index: number;
  name: string;
  uuid: string;
  utilization_percent: number;
  memory_used_bytes: number;
  memory_total_bytes: number;
  temperature_c: number | null;
};
export type GpuStatus =
  | { status: "available" }
  | { status: "no_driver" }
  | { status: "no_gpu" }
  | { status: "error"; message: string };
export type SystemInfo = {
  hostname: string;
  os: string;
  cpu: { model: string; cores: number; usage_percent: number };
  memory: { total_bytes: number; used_bytes: number };
  disk: { path: string; total_bytes: number; free_bytes: number };
  gpu_status: GpuStatus;
  gpus: GpuInfo[];
  extra?: Record<string, string>;
};

export type NodeState = "online" | "offline" | "paused" | "draining" | "yielding";
/** One GPU of a node's capacity: free memory now, how many Gantry tasks hold it, whether its person keeps it. */
export type GpuSlot = { index: number; uuid: string; free_bytes: number; holders: number; shared: boolean; reserved: boolean };
/** What a node can give a new task now, as its last heartbeat said (and claims since took). */
export type NodeCapacity = { gpus: GpuSlot[] };
export type RunningTask = { id: string; name: string; state: TaskState };
export type Node = {
  id: string;
  name: string;
  labels: string[];
  online: boolean;
  last_seen: Millis | null;
  version: string | null;
  system: SystemInfo | null;
  tasks_held: number;
  state: NodeState;
  given_labels: string[];
  agent_labels: string[];
  only_labeled: boolean;
  /** The tasks it holds now (assigned, pulling, running, paused, lost). */
  running: RunningTask[];
  /** Why it steps aside for its person, while its state is "yielding". */
  yield_reason?: string | null;
  /** What it can give now; absent from an agent that does not say. */
  capacity?: NodeCapacity | null;
  /** Which images it runs, as its agent said; absent: any image. */
  image_policy?: ImagePolicy | null;
};
/** A node's image policy (`--allowed-images`, `--pinned-images-only`). */
export type ImagePolicy = { allowed?: string[]; pinned_only?: boolean };
export type NodeToken = { node: Node; token: string };
export type NodeRemoved = { id: string; name: string; failed: string[]; canceled: string[] };
export type NodeChange = { name?: string; add_labels?: string[]; remove_labels?: string[] };

/** One heartbeat's figures, for the Cluster page's charts. */
export type NodeSample = {
  at: Millis;
  cpu_percent: number;
  memory_used_bytes: number;
  memory_total_bytes: number;
  disk_free_bytes: number;
  disk_total_bytes: number;
  gpus: GpuInfo[];
};
export type NodeMetrics = { node: string; samples: NodeSample[] };

export type Transition = { state: TaskState; at: Millis; reason: string | null };
export type OutputFile = { path: string; size: number; sha256: string; stored: "node" | "hub" };
export type PullProgress = { done: number; total: number };
/** What a task used of the GPUs it held, as its node measured it (protocol/src/gpu_use.rs). */
export type TaskGpuUse = {
  gpus: number;
  gpu_seconds: number;
  memory_bytes: number;
  memory_peak_bytes: number;
  utilization_percent?: number | null;
  utilization_mean_percent?: number | null;
  energy_wh?: number | null;
  energy_shared?: boolean;
  since: Millis;
  sampled_at: Millis;
  ended?: boolean;
};
/** A job as the hub keeps it (the job file's keys; absent keys are left out). */
export type JobSpec = Record<string, unknown> & {
  name?: string;
  image?: string;
  command?: string[];
  env?: Record<string, string>;
  inputs?: Record<string, string>;
  labels?: string[];
  node?: string;
};
export type Task = {
  id: string;
  name: string;
  state: TaskState;
  spec: JobSpec;
  node: string | null;
  exit_code: number | null;
  reason: string | null;
  created_at: Millis;
  updated_at: Millis;
  started_at: Millis | null;
  finished_at: Millis | null;
  log_size: number;
  pending_command: "cancel" | "pause" | "resume" | null;
  pull_progress: PullProgress | null;
  outputs: OutputFile[];
  history: Transition[];
  /** The checkpoint a release left (`tree:<sha256>`). */
  checkpoint?: string | null;
  /** Why it waits in the queue when no node can take it now (the task's own page only). */
  waiting?: string | null;
  /** Absent for a task that held no GPU (or whose node has no NVML). */
  gpu_use?: TaskGpuUse | null;
};
/** A page of tasks; `next` is the `before` of the following page, absent on the last. */
export type TaskList = { tasks: Task[]; next?: string | null };
export type TaskFilter = {
  state?: TaskState;
  node?: string;
  label?: string;
  name?: string;
  limit?: number;
  before?: string;
};

export type ListedOutput = {
  path: string;
  size: number;
  sha256: string;
  stored: "node" | "hub";
  node: string | null;
  node_online: boolean | null;
  node_last_seen: Millis | null;
};
export type OutputList = { task: string; outputs: ListedOutput[] };

/** One problem the hub found in a job file: its key path, line and column when known, and the fix. */
export type JobProblem = { path: string; line: number | null; column: number | null; message: string };
export type JobCheck = { ok: boolean; problems: JobProblem[] };

export type TokenInfo = { name: string; created_at: Millis; last_used: Millis | null };
export type NewAdminToken = { name: string; token: string };

// ---- the transport ----

let csrf: string | null = null;

/** Remembers the session's CSRF value (from `signIn` or `session`), in memory only. */
function keep(info: SessionInfo): SessionInfo {
  csrf = info.csrf;
  return info;
}

async function call<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD" && csrf !== null) headers["X-Gantry-Csrf"] = csrf;
  let payload: BodyInit | undefined;
  if (body !== undefined) {
    headers["Content-Type"] = contentType ?? "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (!response.ok) throw await refusal(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** The hub's JSON error as a HubError (or a sentence for a non-hub answer, such as a proxy's). */
export async function refusal(response: Response): Promise<HubError> {
  try {
    const body = (await response.json()) as { code?: string; message?: string };
    if (body.code && body.message) return new HubError(response.status, body.code, body.message);
  } catch {
    // not JSON: a proxy or a network error page
  }
  return new HubError(response.status, "http_error", `the hub answered ${response.status} ${response.statusText}`);
}

const q = (filter: Record<string, string | number | boolean | undefined>): string => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filter)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
};
const seg = encodeURIComponent;
/** An output's path, each segment encoded, slashes kept. */
const outputPath = (path: string): string => path.split("/").map(seg).join("/");

// ---- session ----

/** Signs in with an admin token; the hub sets the session cookie. The token is not kept. */
export const signIn = async (token: string): Promise<SessionInfo> =>
  keep(await call<SessionInfo>("POST", "/v1/session", { token }));
/** The current session, or a HubError with status 401 when signed out. */
export const session = async (): Promise<SessionInfo> => keep(await call<SessionInfo>("GET", "/v1/session"));
/** Ends the session on the hub. */
export async function signOut(): Promise<void> {
  await call<void>("DELETE", "/v1/session");
  csrf = null;
}
/** The CSRF value for requests made outside `call` (uploads with progress). */
export const csrfHeader = (): Record<string, string> => (csrf === null ? {} : { "X-Gantry-Csrf": csrf });

// ---- nodes ----

export const listNodes = async (): Promise<Node[]> => (await call<{ nodes: Node[] }>("GET", "/v1/nodes")).nodes;
export const addNode = (name: string, labels: string[]): Promise<NodeToken> =>
  call("POST", "/v1/nodes", { name, labels });
export const showNode = (node: string): Promise<Node> => call("GET", `/v1/nodes/${seg(node)}`);
export const changeNode = (node: string, change: NodeChange): Promise<Node> =>
  call("PATCH", `/v1/nodes/${seg(node)}`, change);
export const removeNode = (node: string): Promise<NodeRemoved> => call("DELETE", `/v1/nodes/${seg(node)}`);
export const rotateNodeToken = (node: string): Promise<NodeToken> => call("POST", `/v1/nodes/${seg(node)}/token`);
export const nodeMetrics = (node: string): Promise<NodeMetrics> => call("GET", `/v1/nodes/${seg(node)}/metrics`);

// ---- tasks ----

export const listTasks = (filter: TaskFilter = {}): Promise<TaskList> => call("GET", `/v1/tasks${q(filter)}`);
export const showTask = (id: string): Promise<Task> => call("GET", `/v1/tasks/${seg(id)}`);
/** Submits a job file's text (YAML or JSON). */
export const submitJob = (text: string): Promise<{ id: string }> =>
  call("POST", "/v1/tasks", text, "application/yaml");
/** The hub's verdict on a job file without submitting it. */
export const checkJob = (text: string): Promise<JobCheck> => call("POST", "/v1/jobs/check", text, "application/yaml");
export const cancelTask = (id: string): Promise<Task> => call("POST", `/v1/tasks/${seg(id)}/cancel`);
export const pauseTask = (id: string): Promise<Task> => call("POST", `/v1/tasks/${seg(id)}/pause`);
export const resumeTask = (id: string): Promise<Task> => call("POST", `/v1/tasks/${seg(id)}/resume`);

/** The URL that downloads the whole log (the session cookie goes with it). */
export const logUrl = (id: string): string => `/v1/tasks/${seg(id)}/log`;
/** Follows a task's log from `offset`: calls `onBytes` with each piece as it arrives, until the task ends or `signal` aborts. */
export async function followLog(
  id: string,
  offset: number,
  onBytes: (bytes: Uint8Array) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await fetch(`/v1/tasks/${seg(id)}/log${q({ offset, follow: true })}`, {
    credentials: "same-origin",
    signal,
  });
  if (!response.ok || !response.body) throw await refusal(response);
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    onBytes(value);
  }
}

export const listOutputs = (id: string): Promise<OutputList> => call("GET", `/v1/tasks/${seg(id)}/outputs`);
/** The URL that downloads one output (relayed from its node when kept there). */
export const outputUrl = (id: string, path: string): string => `/v1/tasks/${seg(id)}/outputs/${outputPath(path)}`;

// ---- blobs ----

/** Whether the hub holds a blob already (then the upload is skipped). */
export async function hasBlob(sha256: string): Promise<boolean> {
  const response = await fetch(`/v1/blobs/${sha256}`, { method: "HEAD", credentials: "same-origin" });
  if (response.status === 404) return false;
  if (!response.ok) throw new HubError(response.status, "http_error", `the hub answered ${response.status}`);
  return true;
}
/** The URL a blob is uploaded to with PUT (with `csrfHeader()`). */
export const blobUrl = (sha256: string): string => `/v1/blobs/${sha256}`;

// ---- admin tokens ----

export const listTokens = async (): Promise<TokenInfo[]> =>
  (await call<{ tokens: TokenInfo[] }>("GET", "/v1/tokens")).tokens;
export const createToken = (name: string): Promise<NewAdminToken> => call("POST", "/v1/tokens", { name });
export const revokeToken = (name: string): Promise<{ name: string; revoked: number }> =>
  call("DELETE", `/v1/tokens/${seg(name)}`);

// ---- live updates ----

/** What the hub's event stream (`GET /v1/events`, Server-Sent Events) says. */
export type HubEvent =
  /** Nodes were added, changed, removed, or came or went. */
  | { kind: "nodes" }
  /** These tasks were submitted or changed state; `all`: too many to name (or this reader fell behind), read everything again. */
  | { kind: "tasks"; ids: string[]; all: boolean }
  /** A node's heartbeat, with its figures. */
  | { kind: "sample"; node: string; sample: NodeSample };

/**
 * Subscribes to the hub's events; `onOpen` / `onLost` say whether the stream
 * is up. The browser reconnects by itself after a dropped connection; after
 * an answer that is not a stream (a proxy's 502, a hub restarting), which
 * ends an EventSource for good, this opens a new one after a pause that
 * grows from 1 s to 30 s. Returns the unsubscribe.
 */
export function watchHub(onEvent: (event: HubEvent) => void, onOpen: () => void, onLost: () => void): () => void {
  let source: EventSource | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  let pause = 1000;
  const open = () => {
    retry = null;
    const s = new EventSource("/v1/events");
    source = s;
    s.onopen = () => {
      pause = 1000;
      onOpen();
    };
    s.onerror = () => {
      onLost();
      if (s.readyState === EventSource.CLOSED && source === s) {
        retry = setTimeout(open, pause);
        pause = Math.min(pause * 2, 30_000);
      }
    };
    s.addEventListener("nodes", () => onEvent({ kind: "nodes" }));
    s.addEventListener("tasks", (e) => {
      const { ids, all } = JSON.parse((e as MessageEvent<string>).data) as { ids: string[]; all?: boolean };
      onEvent({ kind: "tasks", ids, all: all === true });
    });
    s.addEventListener("sample", (e) => {
      const { node, sample } = JSON.parse((e as MessageEvent<string>).data) as { node: string; sample: NodeSample };
      onEvent({ kind: "sample", node, sample });
    });
  };
  open();
  return () => {
    if (retry !== null) clearTimeout(retry);
    source?.close();
    source = null;
  };
}

// ---- log times ----

/** When an append of a task's log reached the hub: its first byte's offset and the hub's time. */
export type LogMark = { offset: number; at: Millis };
/** `GET /v1/tasks/{id}/log/times`: marks in order (at most 100,000; `next` is the `offset` that continues). */
export type LogTimes = { marks: LogMark[]; next?: number | null };
/** The marks of task `id`'s log from byte `offset` (the first is that of the append holding it). */
export const logTimes = (id: string, offset: number): Promise<LogTimes> =>
  call("GET", `/v1/tasks/${seg(id)}/log/times${q({ offset })}`);
