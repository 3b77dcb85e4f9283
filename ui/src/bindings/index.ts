// Generated from src-tauri/src/view.rs by ts-rs; do not edit.
// Rewrite with: GANTRY_WRITE_BINDINGS=1 cargo test -p gantry-desktop bindings

export type TaskState = "queued" | "assigned" | "pulling" | "running" | "paused" | "succeeded" | "failed" | "canceled" | "lost";

export type Connection = "setup" | "connecting" | "connected" | "offline" | "local";

export type Check = { 
/**
 * Whether it is ready.
 */
ok: boolean, 
/**
 * One line: what was found.
 */
summary: string, 
/**
 * What to do about it, when something is missing.
 */
guidance: string | null, };

export type Notifications = { 
/**
 * A task succeeded.
 */
succeeded: boolean, 
/**
 * A task failed or was lost.
 */
failed: boolean, 
/**
 * A task was canceled.
 */
canceled: boolean, };

export type Setup = { 
/**
 * Whether the wizard must show (no hub or no token).
 */
needs_setup: boolean, 
/**
 * The hub last used, to fill in.
 */
server: string | null, 
/**
 * The storage folder.
 */
host_dir: string, 
/**
 * The OS keychain.
 */
keychain: Check, 
/**
 * The Docker engine.
 */
docker: Check, 
/**
 * NVIDIA GPUs.
 */
gpu: Check, 
/**
 * Whether the app starts when the person logs in.
 */
launch_at_login: boolean, 
/**
 * Which notifications show.
 */
notifications: Notifications, 
/**
 * Why the agent could not start or stopped, if it did (a refused
 * token, a host dir in use); the wizard shows it.
 */
problem: string | null, };

export type TaskView = { 
/**
 * The hub's id.
 */
id: string, 
/**
 * Its name.
 */
name: string, 
/**
 * Its state.
 */
state: TaskState, 
/**
 * Its image (docker executor).
 */
image: string | null, 
/**
 * Why it failed or was canceled.
 */
reason: string | null, 
/**
 * The command's exit code, once it exited.
 */
exit_code: number | null, 
/**
 * When this app saw it start (ms since the epoch).
 */
started_at_ms: number | null, 
/**
 * When it ended.
 */
finished_at_ms: number | null, };

export type Status = { 
/**
 * How it is connected.
 */
connection: Connection, 
/**
 * This node's name.
 */
node: string, 
/**
 * The hub's address.
 */
server: string | null, 
/**
 * Every task is frozen and none is taken.
 */
paused: boolean, 
/**
 * When a timed pause ends (ms since the epoch).
 */
paused_until_ms: number | null, 
/**
 * Running tasks finish; no new one is taken.
 */
draining: boolean, 
/**
 * The tasks held now.
 */
tasks: Array<TaskView>, 
/**
 * Tasks that ended while the app ran, newest first.
 */
recent: Array<TaskView>, 
/**
 * Why Docker cannot be used, if it cannot.
 */
docker_problem: string | null, 
/**
 * Mean use of the GPUs, when there are any.
 */
gpu_percent: number | null, 
/**
 * The storage folder.
 */
host_dir: string, };

export type UiError = { 
/**
 * Stable: the UI may branch on it.
 */
code: string, 
/**
 * What happened and what to do.
 */
message: string, };

export type LogBatch = { 
/**
 * The next bytes of the log as text (invalid UTF-8 replaced).
 */
text: string, 
/**
 * The byte offset where this piece ends.
 */
offset: number, 
/**
 * The task ended and the log is complete.
 */
done: boolean, };
