// Settings → Health: `gantry doctor`'s checks as rows of the shared
// Checks list (the wizard's), one `health-<name>` row per check.
import type { Check, HealthCheck } from "../bindings";

/** What a person reads for each check's name. */
const LABELS: Record<string, string> = {
  config: "Settings",
  docker: "Docker",
  cgroup: "Pausing",
  "nvidia-driver": "NVIDIA driver",
  "nvidia-toolkit": "NVIDIA toolkit",
  hub: "Hub",
  tls: "TLS",
  proxy: "Proxy",
  clock: "Clock",
  disk: "Disk",
  keychain: "Keychain",
  "control-socket": "Agent",
};

/** A row of the Checks list. */
export type HealthItem = { label: string; check: Check; testid: string; status: HealthCheck["status"] };

/** The rows, in the checks' order. */
export function healthItems(checks: HealthCheck[]): HealthItem[] {
  return checks.map((c) => ({
    label: LABELS[c.name] ?? c.name,
    check: { ok: c.status === "ok", summary: c.message, guidance: c.fix === "" ? null : c.fix },
    testid: `health-${c.name}`,
    status: c.status,
  }));
}

/** "All 12 checks pass", or how many warn and fail. */
export function healthSummary(checks: HealthCheck[]): string {
  const failures = checks.filter((c) => c.status === "failure").length;
  const warnings = checks.filter((c) => c.status === "warning").length;
  if (failures === 0 && warnings === 0) return `All ${checks.length} checks pass`;
  const parts = [];
  if (failures > 0) parts.push(`${failures} failing`);
  if (warnings > 0) parts.push(`${warnings} with a warning`);
  return `${parts.join(", ")} of ${checks.length} checks`;
}
