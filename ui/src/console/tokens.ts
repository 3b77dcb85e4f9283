// The Tokens page's model: the hub lists admin tokens one per row, several
// may share a name (a holder with two tokens), and revoking acts on the name,
// so the page shows one entry per name. Pure, tested in tokens.test.ts.

import type { TokenInfo } from "./hub";

/** The admin tokens of one name. */
export type TokenHolder = {
  name: string;
  /** How many live tokens carry the name. */
  count: number;
  /** When the newest of them was created. */
  created_at: number;
  /** The latest use of any of them; null when none was ever used. */
  last_used: number | null;
};

/** One entry per name, sorted by name. */
export function holders(tokens: readonly TokenInfo[]): TokenHolder[] {
  const byName = new Map<string, TokenHolder>();
  for (const t of tokens) {
    const h = byName.get(t.name);
    if (!h) {
      byName.set(t.name, { name: t.name, count: 1, created_at: t.created_at, last_used: t.last_used });
      continue;
    }
    h.count += 1;
    h.created_at = Math.max(h.created_at, t.created_at);
    if (t.last_used !== null) h.last_used = Math.max(h.last_used ?? t.last_used, t.last_used);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What a new token's name needs before it goes to the hub (the hub has the last word); null when fine. */
export function nameProblem(name: string): string | null {
  if (name.trim() === "") return "Give the token a name: who or what will use it (e.g. alice, ci).";
  if (name !== name.trim()) return "The name cannot start or end with a space.";
  return null;
}

/**
 * The confirmation's sentences for revoking `holder`'s tokens while signed in
 * as `me` (the session's token name): what stops, and whether it signs you out.
 */
export function revokeWarning(holder: TokenHolder, me: string | null): string[] {
  const which = holder.count === 1 ? `the admin token "${holder.name}"` : `all ${holder.count} admin tokens named "${holder.name}"`;
  const lines = [
    `This revokes ${which}. Console sessions signed in with ${holder.count === 1 ? "it" : "them"} end, and scripts and command lines that use ${holder.count === 1 ? "it" : "them"} stop working.`,
  ];
  if (me !== null && me === holder.name) {
    lines.push("You signed in with this token: revoking it signs you out of this console too.");
  }
  lines.push("This cannot be undone; a new token can be created instead.");
  return lines;
}
