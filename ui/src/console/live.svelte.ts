// The console's one subscription to the hub's event stream, shared by every
// page: pages listen here instead of opening streams or polling.

import { watchHub, type HubEvent } from "./hub";

type Listener = (event: HubEvent) => void;

const listeners = new Set<Listener>();
let stop: (() => void) | null = null;

/** Whether the stream is up now (shown in the header). */
export const live = $state({ connected: false });

/** Opens the stream (after sign-in); idempotent. */
export function startLive(): void {
  if (stop) return;
  stop = watchHub(
    (event) => {
      for (const listener of listeners) listener(event);
    },
    () => (live.connected = true),
    () => (live.connected = false),
  );
}

/** Closes the stream (at sign-out). */
export function stopLive(): void {
  stop?.();
  stop = null;
  live.connected = false;
}

/** Calls `listener` with each event until the returned function is called (use it in `$effect` / `onMount`). */
export function onHubEvent(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
