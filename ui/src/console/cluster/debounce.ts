// Refreshes that many events may ask for at once (a burst of `nodes` events
// as agents reconnect) run once, a moment after the last ask.

/** A function that runs `run` once, `ms` after the last of a burst of calls; `cancel` drops a pending run. */
export type Debounced = (() => void) & { cancel: () => void };

export function debounce(run: () => void, ms: number): Debounced {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const call = (() => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      run();
    }, ms);
  }) as Debounced;
  call.cancel = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  return call;
}
