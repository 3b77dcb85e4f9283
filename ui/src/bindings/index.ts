// Generated from crates/desktop-core/src/view.rs by ts-rs; do not edit.
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
problem: string | null, 
/**
 * The CA file last used, to fill in.
 */
ca_file: string | null, 
/**
 * Whether plain http to a hub elsewhere was allowed last time.
 */
allow_insecure_http: boolean, 
/**
 * The hub's sentence when it removed this computer's node or replaced
 * its token (then `problem` is null): the wizard shows it as the reason
 * it came back.
 */
reason: string | null, };

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
finished_at_ms: number | null, 
/**
 * How far its image pull is, while it pulls.
 */
pull: PullView | null, };

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
host_dir: string, 
/**
 * While the agent steps aside for the person, why, as the tray says
 * it ("Paused while you use this computer").
 */
yielding: string | null, };

export type UiError = { 
/**
 * Stable: the UI may branch on it.
 */
code: string, 
/**
 * What happened and what to do.
 */
message: string, };

export type Intent = { "screen": "task", 
/**
 * The task's id.
 */
id: string, } | { "screen": "settings" };

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
done: boolean, 
/**
 * When each line that begins in `text` was written (ms since the
 * epoch), in order; empty where the log has no times (older logs).
 */
line_ms: number[], };

export type PullView = { 
/**
 * Bytes downloaded.
 */
done_bytes: number, 
/**
 * Bytes to download (grows as layers become known; 0 at first).
 */
total_bytes: number, };

export type GpuState = "available" | "no_driver" | "no_gpu" | "error";

export type GpuSample = { 
/**
 * The device index.
 */
index: number, 
/**
 * The product name.
 */
name: string, 
/**
 * Use, 0–100.
 */
utilization_percent: number, 
/**
 * Memory in use.
 */
memory_used_bytes: number, 
/**
 * Memory installed.
 */
memory_total_bytes: number, 
/**
 * Degrees Celsius.
 */
temperature_c: number | null, };

export type MetricsSample = { 
/**
 * When (ms since the epoch).
 */
at_ms: number, 
/**
 * CPU use over all cores, 0–100.
 */
cpu_percent: number, 
/**
 * Logical cores.
 */
cpu_cores: number, 
/**
 * Memory in use.
 */
memory_used_bytes: number, 
/**
 * Memory installed.
 */
memory_total_bytes: number, 
/**
 * The size of the disk holding the storage folder.
 */
disk_total_bytes: number, 
/**
 * Space left on it.
 */
disk_free_bytes: number, 
/**
 * Whether NVIDIA GPUs can be used.
 */
gpu_state: GpuState, 
/**
 * Why not, when NVML failed.
 */
gpu_message: string | null, 
/**
 * Each GPU.
 */
gpus: Array<GpuSample>, };

export type ContainerView = { 
/**
 * Docker's id (short).
 */
id: string, 
/**
 * Its name.
 */
name: string, 
/**
 * The task it runs for.
 */
task_id: string | null, 
/**
 * That task's name, when known.
 */
task_name: string | null, 
/**
 * `main`, `epilogue` or `service:<name>`.
 */
role: string, 
/**
 * Its image.
 */
image: string, 
/**
 * Docker's state: `running`, `paused`, `exited`, `created`, …
 */
state: string, 
/**
 * Docker's words, e.g. "Up 5 minutes".
 */
status: string, 
/**
 * When it was made (ms since the epoch).
 */
created_ms: number, 
/**
 * CPU use, in percent of one core (running containers only).
 */
cpu_percent: number | null, 
/**
 * Memory in use.
 */
memory_bytes: number | null, 
/**
 * Its memory limit (the machine's memory when it has none).
 */
memory_limit_bytes: number | null, };

export type TimelineEntry = { 
/**
 * The state.
 */
state: TaskState, 
/**
 * When (ms since the epoch).
 */
at_ms: number, };

export type OutputView = { 
/**
 * Its path in the storage folder, for the Storage screen.
 */
path: string, 
/**
 * Its path in the task folder, as the job named it.
 */
name: string, 
/**
 * Its size.
 */
size_bytes: number, };

export type TaskUsage = { 
/**
 * CPU, in percent of one core.
 */
cpu_percent: number | null, 
/**
 * Memory in use.
 */
memory_bytes: number | null, 
/**
 * Its memory limit.
 */
memory_limit_bytes: number | null, 
/**
 * GPU memory its processes hold, where NVML can tell.
 */
gpu_memory_bytes: number | null, };

export type GpuUsePointView = { 
/**
 * When, ms since the epoch.
 */
at_ms: number, 
/**
 * GPU memory its processes held.
 */
memory_bytes: number, 
/**
 * Their utilization, in percent, where the GPUs say.
 */
utilization_percent: number | null, };

export type TaskGpuUseView = { 
/**
 * How many GPUs it holds.
 */
gpus: number, 
/**
 * Wall time holding them × how many.
 */
gpu_seconds: number, 
/**
 * GPU memory its processes hold now (at its end: at the last sample).
 */
memory_bytes: number, 
/**
 * The most they held.
 */
memory_peak_bytes: number, 
/**
 * Their utilization now, in percent, where the GPUs say.
 */
utilization_percent: number | null, 
/**
 * Its mean over the task's samples.
 */
utilization_mean_percent: number | null, 
/**
 * Energy its GPUs used while it held them alone, in watt-hours.
 */
energy_wh: number | null, 
/**
 * Something else used its GPUs for part of its run (that part's energy
 * is left out).
 */
energy_shared: boolean, 
/**
 * It gave its GPUs back: final figures.
 */
ended: boolean, 
/**
 * Memory and utilization over its life, oldest first; empty when only
 * the hub knows the task.
 */
series: Array<GpuUsePointView>, };

export type TaskDetail = { 
/**
 * The task.
 */
task: TaskView, 
/**
 * Its job spec, as YAML; `None` when this app never saw it.
 */
spec: string | null, 
/**
 * Its states, oldest first.
 */
timeline: Array<TimelineEntry>, 
/**
 * Its folder in storage (for the Storage screen), when it exists.
 */
folder: string | null, 
/**
 * Its output files kept in storage.
 */
outputs: Array<OutputView>, 
/**
 * The log's size so far.
 */
log_bytes: number, 
/**
 * What it uses now, while it runs.
 */
usage: TaskUsage | null, 
/**
 * What it did with the GPUs it held (memory, utilization, energy,
 * GPU-seconds, a chart's series); `None` for a task that held none.
 */
gpu_use: TaskGpuUseView | null, };

export type StorageEntry = { 
/**
 * Its name.
 */
name: string, 
/**
 * Its path from the storage folder, with `/`.
 */
path: string, 
/**
 * A folder (links are never followed and count as files).
 */
dir: boolean, 
/**
 * Its size; a folder's is everything inside it.
 */
size_bytes: number, 
/**
 * Last change (ms since the epoch); a folder's is its newest entry's.
 */
modified_ms: number, 
/**
 * Files inside a folder (0 for a file).
 */
files: number, 
/**
 * Whether it may be deleted now (not a running task's, not the
 * agent's own files).
 */
deletable: boolean, };

export type StorageListing = { 
/**
 * The folder, from the storage folder (`""` for the top).
 */
path: string, 
/**
 * The storage folder itself, in full, to show.
 */
root: string, 
/**
 * Its entries, largest first.
 */
entries: Array<StorageEntry>, 
/**
 * Everything in this folder.
 */
total_bytes: number, 
/**
 * The disk's size.
 */
disk_total_bytes: number, 
/**
 * Space left on the disk.
 */
disk_free_bytes: number, };

export type StepAction = "freeze" | "release";

export type StepAside = { 
/**
 * Yield while keyboard or mouse were used in the last this many
 * minutes (or a window is full screen); `None`: never.
 */
yield_when_active: number | null, 
/**
 * Yield while the computer runs on battery.
 */
yield_on_battery: boolean, 
/**
 * Quiet hours, each as `mon-fri 09:00-18:00`.
 */
quiet_hours: Array<string>, 
/**
 * Programs (by name) whose running makes the node yield.
 */
exclusive_app: Array<string>, 
/**
 * Keep GPU work running when another program uses the GPU
 * (`ignore_gpu_programs`); by default such a program stops it.
 */
ignore_gpu_programs: boolean, 
/**
 * Yield GPU work above this GPU temperature (°C); `None`: never.
 */
yield_above_temp: number | null, 
/**
 * What yielding does.
 */
yield_action: StepAction, 
/**
 * Seconds a released task gets to write its checkpoint.
 */
yield_grace: number, 
/**
 * Seconds every rule must stay clear before work comes back.
 */
settle: number, 
/**
 * GPUs (by index) kept for the person: no task gets them.
 */
reserve_gpu: Array<number>, 
/**
 * Show a notification when the agent starts stepping aside.
 */
notify: boolean, };

export type ImageRule = "any" | "only" | "pinned";

export type ImageChoice = { 
/**
 * Which rule.
 */
rule: ImageRule, 
/**
 * The patterns of `only`, e.g. `registry.example.com/**`; kept while
 * another rule is chosen, so switching back does not lose them.
 */
patterns: Array<string>, };

export type NetworkChoice = "full" | "no-private" | "none";

export type TaskIsolation = { 
/**
 * `--task-network`.
 */
task_network: NetworkChoice, 
/**
 * `--task-network-allow`: private IPv4 ranges (CIDR) tasks may still
 * reach under `no-private`.
 */
task_network_allow: Array<string>, 
/**
 * `--read-only-root`: the task's root file system read-only (`/tmp`
 * and the task folder stay writable).
 */
read_only_root: boolean, 
/**
 * `--task-pids-limit`: at most this many processes in a task's
 * container; 0: no limit.
 */
task_pids_limit: number, };

export type DiskSettings = { 
/**
 * At most this many GB used by Gantry; `None`: no such limit.
 */
disk_max_gb: number | null, 
/**
 * At most this percent of the disk; `None`: no such limit.
 */
disk_max_percent: number | null, 
/**
 * At least this many GB left free; `None`: no such limit.
 */
disk_min_free_gb: number | null, 
/**
 * Kept results the hub has not got may be evicted too.
 */
disk_evict_unsynced_results: boolean, };

export type DiskUse = { 
/**
 * `image`, `blob`, `result`, `task_folder` or `checkpoints`.
 */
kind: string, 
/**
 * Its bytes in all.
 */
bytes: number, 
/**
 * Of which may be evicted now.
 */
evictable_bytes: number, };

export type DiskThing = { 
/**
 * Its kind, as in [`DiskUse`].
 */
kind: string, 
/**
 * The image, the blob's sha256, the task.
 */
name: string, 
/**
 * Its bytes.
 */
bytes: number, 
/**
 * When it was last used, or evicted (ms since the epoch).
 */
at: number, };

export type DiskBudgetView = { 
/**
 * The disk's size.
 */
disk_total: number, 
/**
 * What is free on it.
 */
disk_free: number, 
/**
 * The most Gantry may hold.
 */
limit: number, 
/**
 * Which number sets it: `max_bytes`, `max_percent`, `min_free` or `disk`.
 */
tightest: string, 
/**
 * What Gantry holds.
 */
used: number, 
/**
 * By kind.
 */
by_kind: Array<DiskUse>, 
/**
 * What would go next, least recently used first.
 */
next: Array<DiskThing>, 
/**
 * The last evictions, newest first.
 */
evicted: Array<DiskThing>, 
/**
 * Whether the images could be counted (Docker answered).
 */
images_counted: boolean, 
/**
 * The numbers now.
 */
settings: DiskSettings, 
/**
 * Whether the environment or agent.toml fixes them.
 */
locked: boolean, };

export type NodeSettings = { 
/**
 * `remote`, `local`, or `null` before the wizard.
 */
mode: string | null, 
/**
 * The hub, in remote mode.
 */
server: string | null, 
/**
 * Whether a token is kept (it is never shown).
 */
token_saved: boolean, 
/**
 * The CA file trusted besides the system's roots, if any.
 */
ca_file: string | null, 
/**
 * The node's name: at a hub elsewhere the hub's (read-only, see
 * `name_note`); in local mode the embedded hub's, which saving renames.
 */
name: string, 
/**
 * When set, the name cannot be changed here and this sentence says who
 * changes it (a hub elsewhere: its admin, with `gantry node rename`).
 */
name_note: string | null, 
/**
 * Labels added to the hub's.
 */
labels: Array<string>, 
/**
 * How many tasks run at once.
 */
max_tasks: number, 
/**
 * The storage folder.
 */
host_dir: string, 
/**
 * Outputs stay in local storage rather than being uploaded.
 */
with_local_storage: boolean, 
/**
 * A task's folder is removed when it succeeds.
 */
delete_task_dir_on_finish: boolean, 
/**
 * …and when it fails.
 */
delete_task_dir_on_failure: boolean, 
/**
 * Which notifications show.
 */
notifications: Notifications, 
/**
 * Whether the app starts at login.
 */
launch_at_login: boolean, 
/**
 * Fields fixed by the environment or agent.toml (their names as
 * above, and `yielding` or `reserve_gpus` for the rules below); the
 * screen shows them read-only.
 */
locked: Array<string>, 
/**
 * "When to step aside": the yield rules and the GPUs kept for the person.
 */
step_aside: StepAside, 
/**
 * "Which images may run here" (locked as `image_policy`).
 */
image_policy: ImageChoice, 
/**
 * "Task isolation": network, read-only root, pids limit (locked as
 * `hardening`).
 */
task_isolation: TaskIsolation, };

export type NodeSettingsChange = { 
/**
 * The name shown for this node.
 */
name: string, 
/**
 * Labels, `key=value` or plain words.
 */
labels: Array<string>, 
/**
 * How many tasks run at once (1 or more).
 */
max_tasks: number, 
/**
 * The storage folder.
 */
host_dir: string, 
/**
 * Keep outputs locally.
 */
with_local_storage: boolean, 
/**
 * Remove a task's folder when it succeeds.
 */
delete_task_dir_on_finish: boolean, 
/**
 * …when it fails.
 */
delete_task_dir_on_failure: boolean, };

export type NewTask = { 
/**
 * A name; the image's when empty.
 */
name: string, 
/**
 * The image.
 */
image: string, 
/**
 * The command, split like a shell would (quotes kept together); the
 * image's own command when empty.
 */
command: string, 
/**
 * Environment variables, `NAME=value` each.
 */
env: Array<string>, 
/**
 * `""` (none), `all`, a count (`2`) or indices (`0,1`).
 */
gpus: string, };

export type UpdateState = { 
/**
 * This app's version.
 */
current_version: string, 
/**
 * Whether this build carries the update key; a build without one (a
 * developer's) never checks.
 */
has_key: boolean, 
/**
 * The update server's address (the manifest's URL), as set; `None`:
 * updates are off.
 */
endpoint: string | null, 
/**
 * `GANTRY_UPDATE_ENDPOINT` sets the address: the screen shows it
 * read-only.
 */
endpoint_locked: boolean, 
/**
 * The last check since the app started, if any.
 */
last_check: UpdateCheck | null, 
/**
 * A newer version the server offers.
 */
available: AvailableUpdate | null, 
/**
 * An update is being downloaded or installed.
 */
installing: boolean, };

export type UpdateCheck = { 
/**
 * When it ended (ms since the epoch).
 */
at_ms: number, 
/**
 * Why it failed, as a sentence; `None` when it succeeded.
 */
error: string | null, };

export type AvailableUpdate = { 
/**
 * Its version, e.g. `0.2.0`.
 */
version: string, 
/**
 * Its release notes, as plain text.
 */
notes: string | null, 
/**
 * When it was published (ms since the epoch), when the server says.
 */
published_ms: number | null, };

export type UpdateStep = "downloading" | "installing" | "restarting";

export type UpdateProgress = { 
/**
 * The step.
 */
step: UpdateStep, 
/**
 * Bytes downloaded.
 */
done_bytes: number, 
/**
 * Bytes to download, when the server says.
 */
total_bytes: number | null, };

export type HealthStatus = "ok" | "warning" | "failure";

export type HealthCheck = { 
/**
 * A stable name (`docker`, `keychain`, …): the row's `health-<name>`.
 */
name: string, 
/**
 * `ok`, `warning` or `failure`.
 */
status: HealthStatus, 
/**
 * What was found, in a sentence.
 */
message: string, 
/**
 * What to do, in a sentence; empty when nothing is to be done.
 */
fix: string, };

export type ThisWeek = { 
/**
 * GPU hours (each GPU held counts) since `since`.
 */
gpu_hours: number, 
/**
 * GPU energy in kWh since `since`.
 */
kwh: number, 
/**
 * CPU hours of its Docker tasks.
 */
cpu_hours: number, 
/**
 * How many tasks ended since `since`.
 */
tasks: number, 
/**
 * The week's start the figures count from (Unix ms).
 */
since: number, };
