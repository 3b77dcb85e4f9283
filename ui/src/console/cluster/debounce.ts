// Refreshes that many events may ask for at once (a burst of `nodes` events
// as agents reconnect) run once, a moment after the last ask; under a
// steady stream of asks (tasks changing state all the time) they still run
// every `maxMs`, so the page never waits for a quiet moment that won't come.

/** A function that runs `run` once per burst of calls; `cancel` drops a pending run. */
export type Debounced = (() => void) & { cancel: () => void };

/** Runs `run` `ms` after the last call of a burst, and at most `maxMs` after the burst's first call. */
export function debounce(run: () => void, ms: number, maxMs: number = Infinity): Debounced {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let first: number | null = null;
  const fire = () => {
    timer = null;
    first = null;
    run();
  };
  const call = (() => {
    const now = Date.now();
    if (first === null) first = now;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(fire, Math.max(0, Math.min(ms, first + maxMs - now)));
  }) as Debounced;
  call.cancel = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    first = null;
  };
  return call;
}
