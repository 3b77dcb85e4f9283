// A failed hub call as the sentence a page shows. A 401 means the session
// is gone: the shell is told, and it shows the sign-in screen.

import { HubError } from "../hub";
import { sessionEnded } from "../session.svelte";

/** The sentence for `error`; tells the shell when the session ended. */
export function problem(error: unknown): string {
  if (error instanceof HubError) {
    if (error.status === 401) sessionEnded(error);
    return error.message;
  }
  if (error instanceof Error) {
    // fetch's own failures say little ("Failed to fetch"): say what it means here.
    if (error.name === "TypeError") return "The hub could not be reached; check that it runs and try again.";
    return error.message;
  }
  return String(error);
}
