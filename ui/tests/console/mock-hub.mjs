// A tiny stand-in for the hub, for the console's browser smoke test (run.mjs):
// it serves the built console (`/` and `/assets/*`) and answers the few API
// calls the shell and the Tokens page make, as the contract says
// (crates/hub/src/api: session.rs, admin_tokens.rs, live.rs), with the hub's CSP on
// every answer. It checks what a real hub checks that matters to the page:
// the session cookie on every call, and the CSRF header on calls that change
// something (403 csrf_refused without it). The real end-to-end test runs
// against the real hub; this one adds cases, it replaces none.

import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

export const GOOD_TOKEN = "gantry_admin_0123456789abcdefALICE";
export const CI_TOKEN = "gantry_admin_0123456789abcdefCI";
export const NODE_TOKEN = "gantry_node_0123456789abcdefNODE";
export const UNKNOWN_SENTENCE = "the hub does not know this token; check that you pasted all of it";
export const NODE_SENTENCE =
  "a node token cannot sign in to the console; sign in with an admin token (gantry hub token create --admin NAME)";
export const REVOKED_SESSION_SENTENCE = "this session's admin token was revoked; sign in with another token";

const hex = (n) => randomBytes(n).toString("hex");

/**
 * Starts the mock hub on a free port of 127.0.0.1, serving `root` (a built dist-console).
 * @param {string} root
 */
export async function startMockHub(root) {
  const t0 = Date.now();
  const state = {
    /** token → { name, created_at, last_used } */
    tokens: new Map([
      [GOOD_TOKEN, { name: "alice", created_at: t0 - 3 * 86_400_000, last_used: t0 - 5 * 60_000 }],
      [CI_TOKEN, { name: "ci", created_at: t0 - 86_400_000, last_used: null }],
    ]),
    /** cookie secret → { name, csrf } */
    sessions: new Map(),
    /** Every API call, as "METHOD /path status", for the test to look at. */
    calls: [],
    /** Open event streams. */
    streams: new Set(),
    /** Tokens minted by POST /v1/tokens (the test looks for them in storage). */
    minted: [],
  };

  const html = () => readFileSync(join(root, "console.html"));

  function send(res, status, body, headers = {}) {
    const raw = typeof body === "string" || Buffer.isBuffer(body);
    const text = body === undefined ? "" : raw ? body : JSON.stringify(body);
    res.writeHead(status, {
      "content-security-policy": CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
      "cache-control": "no-store",
      ...(body !== undefined && !raw ? { "content-type": "application/json" } : {}),
      ...headers,
    });
    res.end(text);
  }
  const refuse = (res, status, code, message, headers) => send(res, status, { code, message }, headers);

  function sessionOf(req) {
    const cookie = req.headers.cookie ?? "";
    const m = /(?:^|;\s*)gantry_session=([^;]+)/.exec(cookie);
    return m ? (state.sessions.get(m[1]) ?? null) : null;
  }

  async function body(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString("utf8");
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }

  /** The admin gate: a session, and the CSRF header on anything but GET/HEAD. */
  function admit(req, res) {
    const s = sessionOf(req);
    if (!s) {
      // A cookie the hub no longer knows: its session ended (here: its token was revoked).
      const stale = (req.headers.cookie ?? "").includes("gantry_session=");
      refuse(res, 401, "unauthorized", stale ? REVOKED_SESSION_SENTENCE : "sign in first");
      return null;
    }
    if (req.method !== "GET" && req.method !== "HEAD" && req.headers["x-gantry-csrf"] !== s.csrf) {
      refuse(res, 403, "csrf_refused", "this request lacks the session's X-Gantry-Csrf header");
      return null;
    }
    return s;
  }

  async function api(req, res, path) {
    if (path === "/v1/session" && req.method === "POST") {
      const b = await body(req);
      const token = typeof b?.token === "string" ? b.token : "";
      if (token === NODE_TOKEN) return refuse(res, 403, "forbidden", NODE_SENTENCE);
      const holder = state.tokens.get(token);
      if (!holder) return refuse(res, 401, "unauthorized", UNKNOWN_SENTENCE);
      holder.last_used = Date.now();
      const secret = hex(16);
      const info = { name: holder.name, expires_at: Date.now() + 12 * 3_600_000, csrf: hex(16) };
      state.sessions.set(secret, info);
      return send(res, 201, info, {
        "set-cookie": `gantry_session=${secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200`,
      });
    }
    if (path === "/v1/session" && req.method === "GET") {
      const s = sessionOf(req);
      if (s) return send(res, 200, s);
      const stale = (req.headers.cookie ?? "").includes("gantry_session=");
      return refuse(res, 401, "unauthorized", stale ? REVOKED_SESSION_SENTENCE : "no session: sign in");
    }
    if (path === "/v1/session" && req.method === "DELETE") {
      const s = admit(req, res);
      if (!s) return;
      for (const [k, v] of state.sessions) if (v === s) state.sessions.delete(k);
      return send(res, 204, undefined, { "set-cookie": "gantry_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0" });
    }

    const s = admit(req, res);
    if (!s) return;
    if (path === "/v1/events" && req.method === "GET") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", "content-security-policy": CSP });
      res.write(": open\n\n");
      state.streams.add(res);
      req.on("close", () => state.streams.delete(res));
      return;
    }
    if (path === "/v1/tokens" && req.method === "GET") {
      const tokens = [...state.tokens.values()].map(({ name, created_at, last_used }) => ({ name, created_at, last_used }));
      return send(res, 200, { tokens });
    }
    if (path === "/v1/tokens" && req.method === "POST") {
      const b = await body(req);
      const name = typeof b?.name === "string" ? b.name : "";
      if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) {
        return refuse(res, 400, "bad_request", "a token's name is 1 to 64 letters, digits, '.', '_', '@' or '-'");
      }
      const token = `gantry_admin_${hex(20)}`;
      state.tokens.set(token, { name, created_at: Date.now(), last_used: null });
      state.minted.push(token);
      return send(res, 201, { name, token });
    }
    const revoke = /^\/v1\/tokens\/([^/]+)$/.exec(path);
    if (revoke && req.method === "DELETE") {
      const name = decodeURIComponent(revoke[1]);
      let revoked = 0;
      for (const [k, v] of state.tokens) if (v.name === name) (state.tokens.delete(k), revoked++);
      if (revoked === 0) return refuse(res, 404, "not_found", `no admin token is named "${name}"`);
      // Sessions from those tokens end with them.
      for (const [k, v] of state.sessions) if (v.name === name) state.sessions.delete(k);
      return send(res, 200, { name, revoked });
    }
    // Enough for the other pages to render empty until they have their own cases.
    if (path === "/v1/nodes" && req.method === "GET") return send(res, 200, { nodes: [] });
    if (path === "/v1/tasks" && req.method === "GET") return send(res, 200, { tasks: [], next: null });
    return refuse(res, 404, "not_found", `the mock hub has no ${req.method} ${path}`);
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = url.pathname;
    if (path.startsWith("/v1/")) {
      res.on("finish", () => state.calls.push(`${req.method} ${path} ${res.statusCode}`));
      api(req, res, path).catch((e) => refuse(res, 500, "internal", String(e)));
      return;
    }
    if (path === "/" && req.method === "GET") return send(res, 200, html(), { "content-type": TYPES[".html"] });
    if (path.startsWith("/assets/")) {
      const file = normalize(join(root, decodeURIComponent(path)));
      if (file.startsWith(root + sep) && existsSync(file) && statSync(file).isFile()) {
        return send(res, 200, readFileSync(file), { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      }
    }
    send(res, 404, "not found", { "content-type": "text/plain" });
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", ok);
  });
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return {
    url,
    state,
    /** Ends every session on the hub's side (as an expiry or a revocation elsewhere would) and drops the event streams. */
    endSessions() {
      state.sessions.clear();
      for (const r of state.streams) r.end();
      state.streams.clear();
    },
    async close() {
      for (const r of state.streams) r.end();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r()));
    },
  };
}
