// The machine's samples, watched once for the whole window: watch_metrics
// has no way to stop, so a screen that comes and goes must not start another.
import type { MetricsSample } from "../bindings";
import * as api from "./api";
import { sampleTime, sampleValues } from "./metrics";
import { SeriesSet } from "./series";

class MetricsStore {
  /** The last five minutes, not reactive: `version` says when it changed. */
  readonly history = new SeriesSet();
  /** The newest sample. */
  latest = $state.raw<MetricsSample | null>(null);
  /** Grows by one each time points are added (at most once per message). */
  version = $state(0);
  error = $state<string | null>(null);
  private started = false;

  start(): void {
    if (this.started) return;
    this.started = true;
    api.watchMetrics((samples) => this.add(samples)).catch((e) => {
      this.error = api.errorMessage(e);
      this.started = false;
    });
  }

  add(samples: MetricsSample[]): void {
    let added = false;
    for (const s of samples) {
      if (this.history.push(sampleTime(s), sampleValues(s))) {
        added = true;
        this.latest = s;
      }
    }
    if (added) {
      this.error = null;
      this.version++;
    }
  }
}

export const metrics = new MetricsStore();
