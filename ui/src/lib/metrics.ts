// What the Overview's charts plot, taken from the machine's samples.
import type { MetricsSample } from "../bindings";

/** The series names in the metrics history. */
export const CPU = "cpu";
export const MEMORY = "memory";
export const gpuUtil = (index: number): string => `gpu${index}.util`;
export const gpuMemory = (index: number): string => `gpu${index}.memory`;

/** One sample's values by series name; the time axis is in seconds, as uPlot's time scale wants. */
export function sampleValues(sample: MetricsSample): Record<string, number | null> {
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

/** A sample's time on the charts' axis (seconds). */
export const sampleTime = (sample: MetricsSample): number => sample.at_ms / 1000;

/** Why there is no GPU chart, in words; null when GPUs are there to show. */
export function noGpuReason(sample: MetricsSample): string | null {
  switch (sample.gpu_state) {
    case "available":
      return sample.gpus.length === 0 ? "No NVIDIA GPU was found on this computer." : null;
    case "no_driver":
      return "No NVIDIA driver is installed, so GPUs cannot be used. Tasks that need no GPU still run.";
    case "no_gpu":
      return "No NVIDIA GPU was found on this computer. Tasks that need no GPU still run.";
    case "error":
      return `The NVIDIA driver did not answer: ${sample.gpu_message ?? "unknown error"}.`;
  }
}
