import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { debounce } from "./debounce";

describe("debounce", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("runs once after the last call of a burst", () => {
    let runs = 0;
    const refresh = debounce(() => runs++, 300);
    refresh();
    vi.advanceTimersByTime(200);
    refresh();
    vi.advanceTimersByTime(200);
    expect(runs).toBe(0);
    vi.advanceTimersByTime(100);
    expect(runs).toBe(1);
    refresh();
    vi.advanceTimersByTime(300);
    expect(runs).toBe(2);
  });

  it("still runs every maxMs under a steady stream of calls", () => {
    let runs = 0;
    const refresh = debounce(() => runs++, 300, 1000);
    for (let t = 0; t < 2500; t += 100) {
      refresh();
      vi.advanceTimersByTime(100);
    }
    expect(runs).toBe(2);
    vi.advanceTimersByTime(300);
    expect(runs).toBe(3);
  });

  it("runs nothing once canceled", () => {
    let runs = 0;
    const refresh = debounce(() => runs++, 300);
    refresh();
    refresh.cancel();
    vi.advanceTimersByTime(1000);
    expect(runs).toBe(0);
  });
});
