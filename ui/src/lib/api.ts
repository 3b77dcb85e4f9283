// Typed wrappers over src-tauri's commands. Command names are snake_case;
// argument keys are camelCase, as Tauri converts them.
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { LogBatch, Notifications, Setup, Status, UiError } from "../bindings";

export const setupState = (): Promise<Setup> => invoke<Setup>("setup_state");

export const connect = (args: {
  server: string;
  token: string;
  hostDir: string | null;
  launchAtLogin: boolean;
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

/** A notification was clicked: show that task's log. */
export const onOpenTask = (handler: (id: string) => void): Promise<UnlistenFn> =>
  listen<{ id: string }>("open-task", (e) => {
    if (e.payload && typeof e.payload.id === "string") handler(e.payload.id);
  });

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

/** The sentence to show for a rejected command. */
export function errorMessage(e: unknown): string {
  if (isUiError(e)) return e.message;
  if (typeof e === "string" && e.length > 0) return e;
  if (e instanceof Error && e.message) return e.message;
  return "Something went wrong. Try again.";
}
