// Minimal stand-in for the shell's session module (the shell engineer's
// version replaces this file at merge): pages report a refused session here.

import type { HubError } from "./hub";

/** The refusal that ended the session, once one did. */
export const ended = $state<{ error: HubError | null }>({ error: null });

/** Called by a page when the hub answers 401: the session is over, the shell shows sign-in. */
export function sessionEnded(error: HubError): void {
  ended.error = error;
}
