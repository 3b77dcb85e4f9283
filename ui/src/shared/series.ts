// Fixed-size history for the live charts: a ring per series, all sharing one
// time axis, so a chart gets its points in order without ever growing.

/** The points a chart keeps: 5 minutes at one a second. */
export const HISTORY_POINTS = 300;

/** A fixed-size ring of values, oldest first; `null` is a gap. */
export class Ring {
  readonly capacity: number;
  private readonly buf: (number | null)[];
  private start = 0;
  private len = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("a ring holds at least one value");
    this.capacity = capacity;
    this.buf = new Array<number | null>(capacity).fill(null);
  }

  get length(): number {
    return this.len;
  }

  /** Adds a value, dropping the oldest when full. */
  push(value: number | null): void {
    if (this.len < this.capacity) {
      this.buf[(this.start + this.len) % this.capacity] = value;
      this.len++;
    } else {
      this.buf[this.start] = value;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** The i-th value from the oldest, or undefined outside the ring. */
  at(i: number): number | null | undefined {
    if (i < 0 || i >= this.len) return undefined;
    return this.buf[(this.start + i) % this.capacity];
  }

  /** The newest value, or undefined when empty. */
  last(): number | null | undefined {
    return this.at(this.len - 1);
  }

  /** The values, oldest first, in a new array. */
  toArray(): (number | null)[] {
    const out = new Array<number | null>(this.len);
    for (let i = 0; i < this.len; i++) out[i] = this.buf[(this.start + i) % this.capacity];
    return out;
  }

  clear(): void {
    this.start = 0;
    this.len = 0;
  }
}

/**
 * Series sharing one time axis: each `push` adds a time and a value for every
 * series (a gap where none is given). A series first seen late has gaps
 * before it, so all stay aligned as uPlot wants them.
 */
export class SeriesSet {
  readonly capacity: number;
  private readonly times: Ring;
  private readonly series = new Map<string, Ring>();

  constructor(capacity: number = HISTORY_POINTS) {
    this.capacity = capacity;
    this.times = new Ring(capacity);
  }

  get length(): number {
    return this.times.length;
  }

  /** The newest time, or undefined when empty. */
  lastTime(): number | undefined {
    const t = this.times.last();
    return t === null ? undefined : t;
  }

  /**
   * Adds one point in time. Times must grow: a point at or before the newest
   * is ignored (so a history that overlaps what is held adds nothing twice).
   * Returns whether it was added.
   */
  push(time: number, values: Readonly<Record<string, number | null>>): boolean {
    const newest = this.lastTime();
    if (newest !== undefined && time <= newest) return false;
    const held = this.times.length;
    for (const key of Object.keys(values)) {
      if (!this.series.has(key)) {
        const ring = new Ring(this.capacity);
        for (let i = 0; i < held; i++) ring.push(null);
        this.series.set(key, ring);
      }
    }
    this.times.push(time);
    for (const [key, ring] of this.series) {
      const v = values[key];
      ring.push(v === undefined || (v !== null && !Number.isFinite(v)) ? null : v);
    }
    return true;
  }

  has(key: string): boolean {
    return this.series.has(key);
  }

  /** The newest value of a series (null for a gap or an unknown series). */
  latest(key: string): number | null {
    return this.series.get(key)?.last() ?? null;
  }

  /** The value of a series at the i-th point from the oldest. */
  valueAt(key: string, i: number): number | null {
    return this.series.get(key)?.at(i) ?? null;
  }

  /** The time of the i-th point from the oldest. */
  timeAt(i: number): number | undefined {
    return this.times.at(i) ?? undefined;
  }

  /** uPlot's aligned data: the times, then each named series (gaps for unknown ones). */
  data(keys: readonly string[]): [number[], ...(number | null)[][]] {
    const times = this.times.toArray() as number[];
    const columns = keys.map((key) => this.series.get(key)?.toArray() ?? new Array<number | null>(times.length).fill(null));
    return [times, ...columns];
  }

  clear(): void {
    this.times.clear();
    this.series.clear();
  }
}
