// A failed hub call as the Cluster page shows it: the hub's sentence; a 401
// (the session expired or was ended) goes to the shell, which signs out.

import { HubError } from "../hub";
import { sessionEnded } from "../session.svelte";

/** The sentence to show for a failed call; hands a 401 to the shell first. */
export function failure(error: unknown): string {
  if (error instanceof HubError && error.status === 401) sessionEnded(error);
  return sentence(error);
}

/** The hub's sentence, or the browser's for a call that did not reach it. */
export function sentence(error: unknown): string {
  if (error instanceof HubError) return error.message;
  if (error instanceof Error) return `The hub could not be reached: ${error.message}`;
  return String(error);
}
