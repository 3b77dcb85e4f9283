// A hub call's failure, in words for the page. Pure (see errors.test.ts).

import { HubError } from "./hub";

/** Whether an error means the session is over (401): see session.svelte.ts's `sessionEnded`. */
export function isSessionEnd(error: unknown): error is HubError {
  return error instanceof HubError && error.status === 401;
}

/** An error as a sentence: the hub's own, or what went wrong on the way to it. */
export function errorText(error: unknown): string {
  if (error instanceof HubError) return error.message;
  // fetch rejects with a TypeError when the hub cannot be reached at all.
  if (error instanceof TypeError) return `The hub did not answer (${error.message}): check that it is running and reachable.`;
  return error instanceof Error ? error.message : String(error);
}
