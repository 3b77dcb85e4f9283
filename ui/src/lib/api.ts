// Typed wrappers over src-tauri's commands. Command names are snake_case;
// argument keys are camelCase, as Tauri converts them.
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  ContainerView,
  HealthCheck,
  DiskBudgetView,
  DiskSettings,
  LogBatch,
  MetricsSample,
  NewTask,
  NodeSettings,
  NodeSettingsChange,
  Notifications,
  Intent,
  Setup,
  Status,
  StepAside,
  ImageChoice,
  StorageListing,
  TaskDetail,
  TaskIsolation,
  ThisWeek,
  UiError,
  UpdateProgress,
  UpdateState,
} from "../bindings";

export const setupState = (): Promise<Setup> => invoke<Setup>("setup_state");

export const connect = (args: {
  server: string;
  token: string;
  hostDir: string | null;
  launchAtLogin: boolean;
  /** A CA certificate file (PEM) trusted besides the system's; null: none. */
  caFile: string | null;
  /** The person allowed the token over plain http to another computer. */
  allowInsecureHttp: boolean;
}): Promise<void> => invoke<void>("connect", args);

export const useLocal = (args: { hostDir: string | null; launchAtLogin: boolean }): Promise<void> =>
  invoke<void>("use_local", args);

export const status = (): Promise<Status> => invoke<Status>("status");

/** Sends the current status to `onStatus`, then each change. */
export function watchStatus(onStatus: (s: Status) => void): Promise<void> {
  const onEvent = new Channel<Status>();
  onEvent.onmessage = onStatus;
  return invoke<void>("watch_status", { onEvent });
}

export const pauseTask = (id: string): Promise<void> => invoke<void>("pause_task", { id });
export const resumeTask = (id: string): Promise<void> => invoke<void>("resume_task", { id });
export const cancelTask = (id: string): Promise<void> => invoke<void>("cancel_task", { id });
export const pauseAll = (): Promise<void> => invoke<void>("pause_all");
export const resumeAll = (): Promise<void> => invoke<void>("resume_all");

/** Follows a task's log; resolves to the subscription to pass to `unfollowLog`. */
export function followLog(id: string, onBatch: (b: LogBatch) => void): Promise<number> {
  const onEvent = new Channel<LogBatch>();
  onEvent.onmessage = onBatch;
  return invoke<number>("follow_log", { id, onEvent });
}

export const unfollowLog = (subscription: number): Promise<void> => invoke<void>("unfollow_log", { subscription });

export const openStorage = (): Promise<void> => invoke<void>("open_storage");

export const setNotifications = (notifications: Notifications): Promise<void> =>
  invoke<void>("set_notifications", { notifications });
export const setLaunchAtLogin = (enabled: boolean): Promise<void> => invoke<void>("set_launch_at_login", { enabled });

/**
 * Sends the last minutes of machine samples (one per second) to `onSamples`
 * first, then each new sample as a one-element array, until the window goes.
 */
export function watchMetrics(onSamples: (samples: MetricsSample[]) => void): Promise<void> {
  const onEvent = new Channel<MetricsSample[]>();
  onEvent.onmessage = onSamples;
  return invoke<void>("watch_metrics", { onEvent });
}

/** Every container Gantry made, with what it uses (takes about a second). */
export const containers = (): Promise<ContainerView[]> => invoke<ContainerView[]>("containers");

/** A task's spec, timeline, outputs and resource use. */
export const taskDetail = (id: string): Promise<TaskDetail> => invoke<TaskDetail>("task_detail", { id });
/** GPU hours and kWh of this node's tasks that ended since `since` (Unix ms), from its hub. */
export const thisWeek = (since: number): Promise<ThisWeek> => invoke<ThisWeek>("this_week", { since });

/** Asks where to save the task's whole log and writes it; the path, or null when the person canceled. */
export const saveLog = (id: string): Promise<string | null> => invoke<string | null>("save_log", { id });

/** A folder of the storage folder; `path` is relative to it ("" for the top). */
export const storageList = (path: string): Promise<StorageListing> => invoke<StorageListing>("storage_list", { path });

/** Deletes a file or folder of the storage folder (the UI confirms first). */
export const storageDelete = (path: string): Promise<void> => invoke<void>("storage_delete", { path });

/** Opens a folder of the storage folder in the file manager. */
export const storageOpen = (path: string): Promise<void> => invoke<void>("storage_open", { path });

/** The node's settings. */
export const nodeSettings = (): Promise<NodeSettings> => invoke<NodeSettings>("node_settings");

/** `gantry doctor`'s checks for the app's agent, and the keychain's (Settings → Health). */
export const health = (): Promise<HealthCheck[]> => invoke<HealthCheck[]>("health");

/** Saves the node's settings; the agent restarts (running tasks go on). */
export const saveNodeSettings = (change: NodeSettingsChange): Promise<void> =>
  invoke<void>("save_node_settings", { change });

/** Checks a new token against the hub, keeps it in the keychain, restarts the agent. */
export const replaceToken = (token: string): Promise<void> => invoke<void>("replace_token", { token });

/** Keeps the CA file trusted besides the system's (null: none); the agent restarts with it. */
export const setCaFile = (caFile: string | null): Promise<void> => invoke<void>("set_ca_file", { caFile });

/** Local mode: submits a task from the form; resolves to its id. */
export const submitTask = (task: NewTask): Promise<string> => invoke<string>("submit_task", { task });

/** Local mode: asks for a job file and submits it; its id, or null when the person canceled. */
export const runJobFile = (): Promise<string | null> => invoke<string | null>("run_job_file");

/** The app's version, its update key and server, and what the last check found. */
export const updateState = (): Promise<UpdateState> => invoke<UpdateState>("update_state");

/** Asks the update server now; rejects with the sentence when the check fails. */
export const checkUpdate = (): Promise<UpdateState> => invoke<UpdateState>("check_update");

/** Keeps the update server ("" turns updates off) and asks it at once when updates are on. */
export const setUpdateEndpoint = (endpoint: string): Promise<UpdateState> =>
  invoke<UpdateState>("set_update_endpoint", { endpoint });

/**
 * Downloads the update found (progress to `onProgress`), has its signature
 * verified, installs it; the app then restarts. Rejects with the sentence
 * when any step fails (nothing is installed then).
 */
export function installUpdate(onProgress: (p: UpdateProgress) => void): Promise<void> {
  const channel = new Channel<UpdateProgress>();
  channel.onmessage = onProgress;
  return invoke<void>("install_update", { onProgress: channel });
}

/** A notification was clicked: show that task's log. */
export const onOpenTask = (handler: (id: string) => void): Promise<UnlistenFn> =>
  listen<{ id: string }>("open-task", (e) => {
    if (e.payload && typeof e.payload.id === "string") handler(e.payload.id);
  });

/** Keeps the "When to step aside" rules; the agent restarts with them. */
export const saveStepAside = (rules: StepAside): Promise<void> => invoke<void>("save_step_aside", { rules });
export const saveImagePolicy = (choice: ImageChoice): Promise<void> => invoke<void>("save_image_policy", { choice });
/** Keeps "Task isolation" (network, read-only root, pids limit); the agent restarts with it. */
export const saveTaskIsolation = (isolation: TaskIsolation): Promise<void> =>
  invoke<void>("save_task_isolation", { isolation });

/** Where Gantry stands against its disk budget: used by kind, what would go next. */
export const diskBudget = (): Promise<DiskBudgetView> => invoke<DiskBudgetView>("disk_budget");
/** Keeps the disk budget's numbers; the agent restarts with them. */
export const saveDiskSettings = (settings: DiskSettings): Promise<void> =>
  invoke<void>("save_disk_settings", { settings });

/** What this window should open first (a clicked notification's task, Settings), once. */
export const takeIntent = (): Promise<Intent | null> => invoke<Intent | null>("take_intent");

/** The tray asked for the settings. */
export const onOpenSettings = (handler: () => void): Promise<UnlistenFn> => listen<null>("open-settings", () => handler());

function isUiError(e: unknown): e is UiError {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as { message?: unknown }).message === "string" &&
    typeof (e as { code?: unknown }).code === "string"
  );
}

/** The stable code of a rejected command, when it has one. */
export function errorCode(e: unknown): string | null {
  return isUiError(e) ? e.code : null;
}

/** The sentence to show for a rejected command. */
export function errorMessage(e: unknown): string {
  if (isUiError(e)) return e.message;
  if (typeof e === "string" && e.length > 0) return e;
  if (e instanceof Error && e.message) return e.message;
  return "Something went wrong. Try again.";
}
