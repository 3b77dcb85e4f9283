// Placeholder for the shell's session module (the shell engineer's file
// replaces it at merge): `sessionEnded` is what a page calls when the hub
// answers 401, so the shell can show the sign-in screen.
import type { HubError } from "./hub";

export const sessionState = $state({ ended: false, why: "" });

/** The hub no longer knows this session (expired, signed out elsewhere, token revoked). */
export function sessionEnded(error: HubError): void {
  sessionState.ended = true;
  sessionState.why = error.message;
}
