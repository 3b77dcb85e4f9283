// What a person types on a new node: the exact `gantry agent start` line with
// the hub's address and the node's token, and the desktop app's wizard steps
// for the same. The line is text to copy, so each word is shell-quoted when
// it needs it (a token or an address with characters a shell would read).

import { sendsInClear } from "../../shared/address";

/** Characters a POSIX shell takes literally in a bare word. */
const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** A word as a POSIX shell reads it back unchanged: bare when safe, else in single quotes. */
export function shellQuote(word: string): string {
  if (BARE.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The hub's address as a browser on this page sees it: the origin, plus the
 * path when the hub is served under one (behind a proxy), without the
 * trailing slash or the page's #route.
 */
export function hubAddress(location: Pick<Location, "origin" | "pathname">): string {
  const path = location.pathname.replace(/\/+$/, "");
  return `${location.origin}${path}`;
}

/** The exact line that starts an agent for this node: `gantry agent start --server URL --token TOKEN`. */
export function agentCommand(server: string, token: string): string {
  return `gantry agent start --server ${shellQuote(server)} --token ${shellQuote(token)}`;
}

/** Notes under the line: the flags a connection may also need. */
export function agentNotes(server: string): string[] {
  const notes: string[] = [];
  if (server.startsWith("https://")) {
    notes.push("When the hub's certificate was made by your team's own certificate authority, add --ca-file with that CA's certificate (PEM).");
  }
  if (sendsInClear(server)) {
    notes.push("This address is plain http to another machine: the agent refuses to send its token in clear unless you add --allow-insecure-http (only on a network you trust).");
  }
  return notes;
}

/** The desktop app's setup steps for the same node, in the wizard's words. */
export function wizardSteps(server: string): string[] {
  const steps = [
    "Install the Gantry desktop app on that computer and open it: the “Set up Gantry” window shows.",
    `In “Server address”, paste the hub's address: ${server}`,
    "In “Node token”, paste the token above. The app keeps it in the computer's keychain.",
  ];
  if (server.startsWith("https://")) {
    steps.push("If the hub's certificate was made by your team's own certificate authority, give that CA's certificate (PEM) in “CA file”.");
  }
  if (sendsInClear(server)) {
    steps.push("The address is plain http: tick “Allow plain http” only on a network you trust.");
  }
  steps.push("Press Connect. The node shows here as online with its first heartbeat.");
  return steps;
}
