// The machine's samples, watched once for the whole window: watch_metrics
// has no way to stop, so a screen that comes and goes must not start another.
import type { MetricsSample } from "../bindings";
import * as api from "./api";
import { dueForRedraw, sampleTime, sampleValues } from "./metrics";
import { SeriesSet } from "../shared/series";

class MetricsStore {
  /** The last five minutes, not reactive: `version` says when it changed. */
  readonly history = new SeriesSet();
  /** The newest sample. */
  latest = $state.raw<MetricsSample | null>(null);
  /** Grows by one each time points are added (at most once per message). */
  version = $state(0);
  error = $state<string | null>(null);
  private started = false;

  /** Points added while the window was hidden, or too soon after the last redraw, not yet shown. */
  private unseen: MetricsSample | null = null;
  /** When the screen was last told of new points (ms since the page loaded). */
  private publishedAt = -Infinity;

  start(): void {
    if (this.started) return;
    this.started = true;
    // A hidden window (the app in the tray) keeps the history but draws
    // nothing: charts catch up in one update when it shows again.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "hidden" && this.unseen !== null) this.publish(this.unseen);
    });
    api.watchMetrics((samples) => this.add(samples)).catch((e) => {
      this.error = api.errorMessage(e);
      this.started = false;
    });
  }

  add(samples: MetricsSample[], now: number = performance.now()): void {
    let newest: MetricsSample | null = null;
    for (const s of samples) {
      if (this.history.push(sampleTime(s), sampleValues(s))) newest = s;
    }
    if (newest === null) return;
    const hidden = typeof document !== "undefined" && document.visibilityState === "hidden";
    if (hidden || !dueForRedraw(now, this.publishedAt)) {
      this.unseen = newest;
      return;
    }
    this.publish(newest, now);
  }

  private publish(newest: MetricsSample, now: number = performance.now()): void {
    this.publishedAt = now;
    this.unseen = null;
    this.latest = newest;
    this.error = null;
    this.version++;
  }
}

export const metrics = new MetricsStore();
