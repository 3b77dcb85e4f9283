// Rules about a hub's address that the desktop wizard and the console both
// apply, so both say the same thing as the agent does.

/**
 * Whether a node token sent to `server` would cross the network in clear:
 * plain `http://` to a host that is not this computer (127.0.0.0/8, ::1,
 * localhost). The same rule as the agent's, so the wizard can ask before the
 * backend refuses.
 */
export function sendsInClear(server: string): boolean {
  let url: URL;
  try {
    url = new URL(server.trim());
  } catch {
    return false;
  }
  if (url.protocol !== "http:") return false;
  const host = url.hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost") || host === "::1") return false;
  return !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
