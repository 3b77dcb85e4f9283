// A node's figures over time, for the Cluster page's small charts: the
// hub's last hour of heartbeats (`nodeMetrics`), then each `sample` event as
// it comes. The names and the ring buffers are the desktop's (../../shared).

import type { GpuInfo, NodeSample } from "../hub";
import { DISK, figureValues } from "../../shared/figures";
import { SeriesSet } from "../../shared/series";

/** The longest time the node charts span: the hour the hub keeps. */
export const NODE_WINDOW_SECONDS = 3600;
/** The shortest: a node heard from for a minute fills the chart instead of a sliver at its edge. */
export const NODE_WINDOW_MIN_SECONDS = 60;

/**
 * The span of a node's charts for the time its points cover (first to
 * last, in seconds): that span with a little room, between a minute and
 * the hub's hour.
 */
export function nodeWindowSeconds(times: ArrayLike<number>): number {
  const span = times.length > 1 ? times[times.length - 1] - times[0] : 0;
  return Math.round(Math.min(NODE_WINDOW_SECONDS, Math.max(NODE_WINDOW_MIN_SECONDS, span * 1.1)));
}
/** Points kept per node: an hour of heartbeats at the hub's default 10 s, with room for a faster beat. */
export const NODE_HISTORY_POINTS = 720;

/** One sample's values by series name (CPU, memory, disk in use, each GPU's utilization and memory). */
export function nodeSampleValues(sample: NodeSample): Record<string, number | null> {
  const values = figureValues(sample);
  const used = sample.disk_total_bytes - sample.disk_free_bytes;
  values[DISK] = sample.disk_total_bytes > 0 ? Math.max(0, used) : null;
  return values;
}

/** A sample's time on the charts' axis (seconds, as uPlot's time scale wants). */
export const nodeSampleTime = (sample: NodeSample): number => sample.at / 1000;

/**
 * One node's history. Samples that come while the hub's history is being
 * fetched wait, and go in after it, so that the points stay in time order
 * (a sample the history holds already is not added twice).
 */
export class NodeHistory {
  readonly series: SeriesSet;
  /** The newest sample added, for the totals (memory, disk, each GPU's memory) the scales need. */
  latest: NodeSample | null = null;
  private loaded = false;
  private waiting: NodeSample[] = [];

  constructor(capacity: number = NODE_HISTORY_POINTS) {
    this.series = new SeriesSet(capacity);
  }

  /** Whether the hub's history is in. */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /** Adds the hub's history (oldest first), then the samples that came meanwhile. Returns whether points were added. */
  load(samples: readonly NodeSample[]): boolean {
    let added = false;
    for (const s of [...samples, ...this.waiting]) added = this.push(s) || added;
    this.waiting = [];
    this.loaded = true;
    return added;
  }

  /** Adds one live sample (held back until the history is in). Returns whether points were added now. */
  add(sample: NodeSample): boolean {
    if (!this.loaded) {
      this.waiting.push(sample);
      return false;
    }
    return this.push(sample);
  }

  /** The GPUs of the newest sample, by index. */
  gpus(): GpuInfo[] {
    return [...(this.latest?.gpus ?? [])].sort((a, b) => a.index - b.index);
  }

  private push(sample: NodeSample): boolean {
    if (!this.series.push(nodeSampleTime(sample), nodeSampleValues(sample))) return false;
    this.latest = sample;
    return true;
  }
}
