// Whether the console is signed in, for the shell and every page.
//
// For page authors: when a hub call fails, pass the error to
// `sessionEnded(error)` first. If it was a 401 (the session expired, was
// signed out in another tab, or its admin token was revoked), the shell
// closes the event stream and brings back the sign-in screen with the hub's
// sentence, and `sessionEnded` returns true: show nothing more. Otherwise it
// returns false and the error is the page's to show:
//
//   try { nodes = await listNodes(); }
//   catch (e) { if (!sessionEnded(e)) problem = errorText(e); }   // errorText: ./errors
//
// `account.session?.name` is the signed-in token's holder.

import { errorText, isSessionEnd } from "./errors";
import type { SessionInfo } from "./hub";
import { startLive, stopLive } from "./live.svelte";

export const account = $state<{
  /** The session now, or null when signed out. */
  session: SessionInfo | null;
  /** Why the last session ended by itself (the hub's sentence), shown on the sign-in screen; null after a sign-out. */
  ended: string | null;
}>({ session: null, ended: null });

/** Signed in: remember who, and open the event stream. */
export function beginSession(info: SessionInfo): void {
  account.session = info;
  account.ended = null;
  startLive();
}

/** Signed out (by the person, or by the hub when `reason` is its sentence): close the stream, back to the sign-in screen. */
export function endSession(reason: string | null = null): void {
  stopLive();
  account.session = null;
  account.ended = reason;
}

/**
 * Call with any error from a hub call. A 401 means the session is over: the
 * sign-in screen comes back with the hub's sentence, and this returns true.
 * Anything else returns false, for the page to show.
 */
export function sessionEnded(error: unknown): boolean {
  if (!isSessionEnd(error)) return false;
  // A late answer after signing out already: nothing more to do.
  if (account.session !== null) endSession(error.message);
  return true;
}

/**
 * What a page shows for a failed call: the hub's sentence (see `errorText`),
 * after handing a 401 to `sessionEnded`, which brings back the sign-in screen.
 */
export function failure(error: unknown): string {
  sessionEnded(error);
  return errorText(error);
}
