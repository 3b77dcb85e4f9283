// What the Overview's charts plot, taken from the machine's samples (the
// names and words are shared with the console: ../shared/figures).
import type { MetricsSample } from "../bindings";
import { figureValues, noGpuWords } from "../shared/figures";

export { CPU, MEMORY, gpuMemory, gpuUtil } from "../shared/figures";

/** One sample's values by series name; the time axis is in seconds, as uPlot's time scale wants. */
export const sampleValues = (sample: MetricsSample): Record<string, number | null> => figureValues(sample);

/** A sample's time on the charts' axis (seconds). */
export const sampleTime = (sample: MetricsSample): number => sample.at_ms / 1000;

/** Why there is no GPU chart, in words; null when GPUs are there to show. */
export const noGpuReason = (sample: MetricsSample): string | null =>
  noGpuWords(sample.gpu_state, sample.gpu_message, sample.gpus.length);

/**
 * The time between two redraws of what the samples show. Samples come once a
 * second and all go into the history; the screen shows them every other
 * second, which halves what the webview spends drawing (`cargo xtask bench
 * desktop`: the shown window's CPU).
 */
export const REDRAW_EVERY_MS = 2000;

/**
 * Whether a sample arriving at `now` (ms) is shown, the last redraw having
 * been at `last`. Samples arrive a second apart give or take the timers'
 * jitter, so "every other one" allows a quarter second early.
 */
export function dueForRedraw(now: number, last: number): boolean {
  return now - last >= REDRAW_EVERY_MS - 250;
}
