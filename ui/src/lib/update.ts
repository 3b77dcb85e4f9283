// Words for the Settings screen's Updates section.
import type { UpdateProgress, UpdateState } from "../bindings";
import { formatBytes, formatWhen } from "../shared/format";

/** Whether the app checks for updates: a key compiled in and a server set. */
export function updatesOn(s: UpdateState): boolean {
  return s.has_key && s.endpoint !== null;
}

/** What the last check found, or why there are no checks. Failures are shown apart, as errors. */
export function checkLine(s: UpdateState, now: number): string {
  // The screen says why above, once.
  if (!s.has_key) return "Updates are off in this build.";
  if (s.endpoint === null) return "Updates are off: with no update server set, Gantry never asks for one.";
  if (s.last_check === null) return "Not checked yet.";
  const when = formatWhen(s.last_check.at_ms, now);
  if (s.last_check.error !== null) return `The last check failed (${when}).`;
  if (s.available !== null) return `Gantry ${s.available.version} is available (checked ${when}).`;
  return `Gantry ${s.current_version} is up to date (checked ${when}).`;
}

/** An installation's progress in words: "Downloading: 12.3 MB of 45.6 MB". */
export function progressText(p: UpdateProgress): string {
  switch (p.step) {
    case "downloading":
      return p.total_bytes !== null && p.total_bytes > 0
        ? `Downloading: ${formatBytes(p.done_bytes)} of ${formatBytes(p.total_bytes)}`
        : `Downloading: ${formatBytes(p.done_bytes)}`;
    case "installing":
      return "Signature verified; installing…";
    case "restarting":
      return "Installed; Gantry restarts…";
  }
}
