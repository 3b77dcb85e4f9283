// A small fake hub for the Cluster page's browser check: the contract's
// /v1/session (GET), /v1/nodes (list, add, change, remove, rotate),
// /v1/nodes/{n}/metrics and /v1/events, with realistic nodes, and every
// answer sent with the console's CSP header. Not a replacement for the
// end-to-end test against the real hub: a fast way to look at the page.

import { createServer } from "node:http";
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, join, normalize, sep } from "node:path";

import { CSP } from "./mock-hub.mjs";

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".map": "application/json" };

const GIB = 1024 ** 3;
const MIN = 60_000;

function gpu(index, util, usedGib) {
  return {
    index,
    name: "NVIDIA A100-SXM4-80GB",
    uuid: `GPU-${index}`,
    utilization_percent: util,
    memory_used_bytes: usedGib * GIB,
    memory_total_bytes: 80 * GIB,
    temperature_c: 55 + index * 7,
  };
}

function system(hostname, gpuStatus, gpus, cores = 32) {
  return {
    hostname,
    os: "Debian GNU/Linux 12",
    cpu: { model: "AMD EPYC 7543", cores, usage_percent: 40 },
    memory: { total_bytes: 256 * GIB, used_bytes: 90 * GIB },
    disk: { path: "/var/lib/gantry", total_bytes: 2e12, free_bytes: 1.2e12 },
    gpu_status: gpuStatus,
    gpus,
  };
}

/** The hub's state: nodes, their samples, the calls made, the event streams open. */
export function makeHub() {
  const now = Date.now();
  const hub = {
    calls: [],
    streams: new Set(),
    /** The next answer of a method+path prefix is this refusal. */
    refusals: [],
    nodes: [
      {
        id: "n-7f3a",
        name: "gpu-a100-01",
        given_labels: ["a100", "gpu"],
        agent_labels: ["cuda12"],
        online: true,
        state: "online",
        last_seen: now - 4_000,
        version: "0.9.0",
        system: system("a100-01.lab", { status: "available" }, [gpu(0, 87, 61), gpu(1, 34, 20)]),
        only_labeled: false,
        running: [
          { id: "t-0001", name: "train-resnet50", state: "running" },
          { id: "t-0002", name: "eval-sweep", state: "pulling" },
        ],
      },
      {
        id: "n-2b9c",
        name: "cpu-worker-02",
        given_labels: ["cpu"],
        agent_labels: [],
        online: true,
        state: "draining",
        last_seen: now - 9_000,
        version: "0.9.0",
        system: system("worker-02", { status: "no_gpu" }, [], 16),
        only_labeled: true,
        running: [{ id: "t-0003", name: "etl-nightly", state: "running" }],
      },
      {
        id: "n-5d11",
        name: "render-box",
        given_labels: [],
        agent_labels: ["blender"],
        online: true,
        state: "paused",
        last_seen: now - 2_000,
        version: "0.8.2",
        system: system("render", { status: "error", message: "NVML_ERROR_DRIVER_NOT_LOADED" }, [], 8),
        only_labeled: false,
        running: [],
      },
      {
        id: "n-9e04",
        name: "old-laptop",
        given_labels: [],
        agent_labels: [],
        online: false,
        state: "offline",
        last_seen: now - 47 * MIN,
        version: "0.7.1",
        system: system("laptop", { status: "no_driver" }, [], 4),
        only_labeled: false,
        running: [],
      },
      {
        // A person's desktop that steps aside while they use its GPU; GPU 0 is theirs.
        id: "n-4d90",
        name: "workstation-4090",
        given_labels: [],
        agent_labels: [],
        online: true,
        state: "yielding",
        yield_reason: "blender uses the GPU",
        last_seen: now - 3_000,
        version: "0.9.0",
        system: system("desk", { status: "available" }, [gpu(0, 90, 70), gpu(1, 0, 1)], 16),
        capacity: {
          gpus: [
            { index: 0, uuid: "GPU-0", free_bytes: 10 * GIB, holders: 0, shared: false, reserved: true },
            { index: 1, uuid: "GPU-1", free_bytes: 79 * GIB, holders: 0, shared: false, reserved: false },
          ],
        },
        only_labeled: false,
        running: [],
      },
    ],
    samples: new Map(),
  };
  for (const n of hub.nodes) {
    const list = [];
    const end = n.last_seen;
    for (let t = Math.max(now - 60 * MIN, end - 60 * MIN); t <= end; t += 10_000) {
      const phase = (t / MIN) % 60;
      list.push(sampleFor(n, t, phase));
    }
    hub.samples.set(n.id, list);
  }
  return hub;
}

function sampleFor(n, at, phase) {
  const wave = (k) => 50 + 40 * Math.sin(phase / k);
  return {
    at,
    cpu_percent: Math.max(0, Math.min(100, wave(4))),
    memory_used_bytes: (80 + 40 * Math.sin(phase / 9)) * GIB,
    memory_total_bytes: 256 * GIB,
    disk_free_bytes: 1.2e12 - phase * 1e9,
    disk_total_bytes: 2e12,
    gpus: (n.system?.gpus ?? []).map((g) => ({ ...g, utilization_percent: Math.max(0, Math.min(100, wave(3 + g.index))), memory_used_bytes: (20 + 30 * (1 + Math.sin(phase / 7))) * GIB })),
  };
}

/** The node as GET /v1/nodes answers it. */
function view(n) {
  return { ...n, labels: [...new Set([...n.given_labels, ...n.agent_labels])], tasks_held: n.running.length };
}

function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json", "content-security-policy": CSP });
  res.end(body === undefined ? "" : JSON.stringify(body));
}

const refuse = (res, status, code, message) => send(res, status, { code, message });

async function bodyOf(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString("utf8");
  return text === "" ? undefined : JSON.parse(text);
}

/** Sends one event to every open stream. */
export function emit(hub, event, data) {
  for (const res of hub.streams) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** Serves `root` (the built harness) and the fake hub on a free port of 127.0.0.1. */
export function serveHub(root, hub) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = url.pathname;
    if (!path.startsWith("/v1/")) {
      const file = normalize(join(root, path === "/" ? "cluster.html" : decodeURIComponent(path)));
      if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return refuse(res, 404, "not_found", "no such file");
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "content-security-policy": CSP });
      return res.end(readFileSync(file));
    }
    const body = req.method === "GET" ? undefined : await bodyOf(req);
    hub.calls.push({ method: req.method, path, body, csrf: req.headers["x-gantry-csrf"] ?? null });
    const refusal = hub.refusals.findIndex((r) => r.method === req.method && path.startsWith(r.path));
    if (refusal >= 0) {
      const [r] = hub.refusals.splice(refusal, 1);
      return refuse(res, r.status, r.code, r.message);
    }
    if (req.method !== "GET" && req.headers["x-gantry-csrf"] !== "csrf-123") {
      return refuse(res, 403, "csrf_refused", "this request lacks the session's CSRF value; reload the page");
    }
    const m = /^\/v1\/nodes\/([^/]+)(\/metrics|\/token)?$/.exec(path);
    const node = m ? hub.nodes.find((n) => n.id === decodeURIComponent(m[1]) || n.name === decodeURIComponent(m[1])) : undefined;
    if (path === "/v1/session" && req.method === "GET") return send(res, 200, { name: "admin", expires_at: Date.now() + 12 * 3600_000, csrf: "csrf-123" });
    if (path === "/v1/events" && req.method === "GET") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "content-security-policy": CSP });
      res.write(": open\n\n");
      hub.streams.add(res);
      req.on("close", () => hub.streams.delete(res));
      return;
    }
    if (path === "/v1/nodes" && req.method === "GET") return send(res, 200, { nodes: hub.nodes.map(view) });
    if (path === "/v1/nodes" && req.method === "POST") {
      const name = String(body?.name ?? "");
      if (name === "") return refuse(res, 400, "bad_request", "a node name cannot be empty; use e.g. the machine's host name");
      if (hub.nodes.some((n) => n.name === name)) return refuse(res, 409, "conflict", `a node named "${name}" exists already; pick another name`);
      hub.added = (hub.added ?? 0) + 1;
      const n = { id: `n-new${hub.added}`, name, given_labels: body.labels ?? [], agent_labels: [], online: false, state: "offline", last_seen: null, version: null, system: null, only_labeled: false, running: [] };
      hub.nodes.push(n);
      hub.samples.set(n.id, []);
      emit(hub, "nodes", {});
      return send(res, 201, { node: view(n), token: "gnt_n0de-T0ken_for-test" });
    }
    if (m && !node) return refuse(res, 404, "unknown_node", `the hub has no node named "${decodeURIComponent(m[1])}"`);
    if (m && m[2] === "/metrics" && req.method === "GET") return send(res, 200, { node: node.id, samples: hub.samples.get(node.id) });
    if (m && m[2] === "/token" && req.method === "POST") return send(res, 200, { node: view(node), token: "gnt_r0tated-T0ken" });
    if (m && !m[2] && req.method === "PATCH") {
      if (body.name !== undefined) node.name = body.name;
      node.given_labels = [...node.given_labels.filter((l) => !(body.remove_labels ?? []).includes(l)), ...(body.add_labels ?? [])];
      emit(hub, "nodes", {});
      return send(res, 200, view(node));
    }
    if (m && !m[2] && req.method === "DELETE") {
      hub.nodes = hub.nodes.filter((n) => n !== node);
      emit(hub, "nodes", {});
      return send(res, 200, { id: node.id, name: node.name, failed: ["t-0100"], canceled: node.running.map((t) => t.id) });
    }
    return refuse(res, 404, "no_such_route", `no route ${req.method} ${path}`);
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => ok({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

export { sampleFor };
