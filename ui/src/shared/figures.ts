// A machine's figures as the live charts plot them: the series names, one
// sample's values by name, and why a machine shows no GPU. The desktop's own
// samples and the hub's node samples have these fields in common, so both
// windows name and word them the same way.

/** The series names in a figures history. */
export const CPU = "cpu";
export const MEMORY = "memory";
/** Disk space in use (total less free), in bytes. */
export const DISK = "disk";
export const gpuUtil = (index: number): string => `gpu${index}.util`;
export const gpuMemory = (index: number): string => `gpu${index}.memory`;

/** What a GPU reading holds that the charts plot. */
export type GpuFigures = { index: number; utilization_percent: number; memory_used_bytes: number };
/** What a sample holds that the CPU, memory and GPU charts plot. */
export type Figures = { cpu_percent: number; memory_used_bytes: number; gpus: readonly GpuFigures[] };

/** One sample's CPU, memory and GPU values by series name. */
export function figureValues(sample: Figures): Record<string, number | null> {
  const values: Record<string, number | null> = {
    [CPU]: sample.cpu_percent,
    [MEMORY]: sample.memory_used_bytes,
  };
  for (const gpu of sample.gpus) {
    values[gpuUtil(gpu.index)] = gpu.utilization_percent;
    values[gpuMemory(gpu.index)] = gpu.memory_used_bytes;
  }
  return values;
}

/** Whether a machine's GPUs can be used, as its agent reports it. */
export type GpuState = "available" | "no_driver" | "no_gpu" | "error";

/**
 * Why there is no GPU chart, in words; null when GPUs are there to show.
 * `machine` names the machine: "this computer" on the desktop, "this node"
 * in the console.
 */
export function noGpuWords(
  state: GpuState,
  message: string | null,
  gpuCount: number,
  machine = "this computer",
): string | null {
  switch (state) {
    case "available":
      return gpuCount === 0 ? `No NVIDIA GPU was found on ${machine}.` : null;
    case "no_driver":
      return "No NVIDIA driver is installed, so GPUs cannot be used. Tasks that need no GPU still run.";
    case "no_gpu":
      return `No NVIDIA GPU was found on ${machine}. Tasks that need no GPU still run.`;
    case "error":
      return `The NVIDIA driver did not answer: ${message ?? "unknown error"}.`;
  }
}
