// A small stand-in for the hub's console API, enough for the Tasks, Task
// detail and Submit pages: tasks with keyset paging and filters, a log that
// streams (cut inside UTF-8 characters, and broken once mid-stream), outputs,
// the job check, the log's time marks (`/log/times`: when each append
// arrived), blobs (a PUT's body must hash to its URL's SHA-256, checked
// with node's crypto) and the event stream. The real hub is tested end to end
// elsewhere; this checks the pages' own behaviour.

import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".map": "application/json" };
const CSRF = "csrf-test-value";

export class MockHub {
  constructor(root) {
    this.root = root;
    this.calls = [];
    this.blobs = new Map();
    this.submitted = [];
    this.events = new Set();
    this.tasks = [];
    this.logs = new Map();
    const base = Date.UTC(2026, 11, 6, 9, 0, 0);
    for (let i = 0; i < 250; i++) {
      const state = i % 50 === 0 ? "running" : i % 7 === 0 ? "failed" : "succeeded";
      this.tasks.push(this.task(`t${String(i).padStart(4, "0")}`, `job-${i}${i % 10 === 0 ? "-train" : ""}`, state, base + i * 60_000));
    }
    const live = this.task("tlive", "live-log", "running", base + 300 * 60_000);
    live.outputs = [];
    // It holds a GPU: its node's heartbeats bring its use.
    live.gpu_use = {
      gpus: 1, gpu_seconds: 754, memory_bytes: 3 * 2 ** 30, memory_peak_bytes: 5 * 2 ** 30,
      utilization_percent: 62, utilization_mean_percent: 57.4, energy_wh: 41.2,
      since: base + 300 * 60_000 + 3000, sampled_at: base + 300 * 60_000 + 757_000,
    };
    this.tasks.push(live);
    this.logs.set("tlive", Buffer.from("\x1b[32mstarting\x1b[0m\nGrüße aus Köln €\nline three\n"));
    this.liveMore = Buffer.from("more: 😀 done\n");
    // The live log arrived in two appends (the second from byte 18, "Grüße…"), the rest comes at finishLive.
    this.base = base;
    this.logMarks = new Map([["tlive", [{ offset: 0, at: base + 1_001 }, { offset: 18, at: base + 2_002 }]]]);
    this.tasks.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
  }

  task(id, name, state, created) {
    const finished = !["queued", "assigned", "pulling", "running", "paused"].includes(state);
    const history = [
      { state: "queued", at: created, reason: null },
      { state: "assigned", at: created + 1000, reason: "node gpu-1 took it" },
      { state: "running", at: created + 3000, reason: null },
    ];
    if (finished) history.push({ state, at: created + 45_000, reason: state === "failed" ? "the command exited with 2" : null });
    return {
      id,
      name,
      state,
      spec: { name, image: "busybox:1.36", command: ["sh", "-c", "echo hi"], outputs: ["out"] },
      node: "n1",
      exit_code: finished ? (state === "failed" ? 2 : 0) : null,
      reason: state === "failed" ? "the command exited with 2" : null,
      created_at: created,
      updated_at: created,
      started_at: created + 3000,
      finished_at: finished ? created + 45_000 : null,
      log_size: 0,
      pending_command: null,
      pull_progress: null,
      outputs: [],
      history,
    };
  }

  emit(event, data) {
    for (const res of this.events) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Adds a new task on top and says so on the event stream. */
  addTask(name) {
    const t = this.task(`tnew${this.tasks.length}`, name, "queued", Date.now());
    t.history = t.history.slice(0, 1);
    t.started_at = null;
    this.tasks.unshift(t);
    this.emit("tasks", { ids: [t.id] });
    return t;
  }

  finishLive() {
    const t = this.tasks.find((x) => x.id === "tlive");
    this.logMarks.get("tlive").push({ offset: this.logs.get("tlive").length, at: this.base + 3_003 });
    this.logs.set("tlive", Buffer.concat([this.logs.get("tlive"), this.liveMore]));
    t.state = "succeeded";
    t.exit_code = 0;
    t.finished_at = Date.now();
    t.gpu_use = { ...t.gpu_use, gpu_seconds: 800, energy_wh: 43.9, energy_shared: true, ended: true };
    t.history.push({ state: "succeeded", at: t.finished_at, reason: null });
    for (const wake of this.logWaiters ?? []) wake();
    this.logWaiters = [];
    this.emit("tasks", { ids: ["tlive"] });
  }

  start() {
    this.server = createServer((req, res) => this.handle(req, res).catch((e) => {
      res.writeHead(500);
      res.end(String(e));
    }));
    return new Promise((ok) =>
      this.server.listen(0, "127.0.0.1", () => ok(`http://127.0.0.1:${this.server.address().port}`)),
    );
  }

  stop() {
    for (const res of this.events) res.end();
    this.server.closeAllConnections();
    return new Promise((ok) => this.server.close(() => ok()));
  }

  async body(req) {
    const parts = [];
    for await (const p of req) parts.push(p);
    return Buffer.concat(parts);
  }

  json(res, status, value) {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  }

  async handle(req, res) {
    const url = new URL(req.url, "http://x");
    const path = url.pathname;
    this.calls.push(`${req.method} ${path}${url.search}`);
    if (!path.startsWith("/v1/")) return this.file(path === "/" ? "/harness.html" : path, res);
    if (req.method !== "GET" && req.method !== "HEAD" && req.headers["x-gantry-csrf"] !== CSRF) {
      return this.json(res, 403, { code: "csrf_refused", message: "no CSRF value" });
    }
    if (path === "/v1/session") return this.json(res, 200, { name: "admin", expires_at: Date.now() + 3600e3, csrf: CSRF });
    if (path === "/v1/events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write(": hello\n\n");
      this.events.add(res);
      req.on("close", () => this.events.delete(res));
      return;
    }
    if (path === "/v1/nodes") {
      return this.json(res, 200, { nodes: [{ id: "n1", name: "gpu-1", online: false, last_seen: Date.now() - 600e3 }] });
    }
    if (path === "/v1/tasks" && req.method === "GET") return this.list(url, res);
    if (path === "/v1/tasks" && req.method === "POST") {
      const text = (await this.body(req)).toString("utf8");
      this.submitted.push({ type: req.headers["content-type"], text });
      const t = this.addTask("submitted");
      return this.json(res, 201, { id: t.id });
    }
    if (path === "/v1/jobs/check") {
      const text = (await this.body(req)).toString("utf8");
      const lines = text.split("\n");
      const problems = [];
      lines.forEach((line, i) => {
        if (/^\s*imag:/.test(line)) problems.push({ path: "imag", line: i + 1, column: 1, message: "unknown key imag; did you mean image?" });
      });
      if (!/"image"|^image:/m.test(text)) problems.push({ path: "image", line: null, column: null, message: "a docker job needs an image" });
      return this.json(res, 200, { ok: problems.length === 0, problems });
    }
    let m = /^\/v1\/blobs\/([0-9a-f]{64})$/.exec(path);
    if (m) {
      if (req.method === "HEAD") {
        res.writeHead(this.blobs.has(m[1]) ? 200 : 404);
        return res.end();
      }
      const bytes = await this.body(req);
      const sha = createHash("sha256").update(bytes).digest("hex");
      if (sha !== m[1]) return this.json(res, 400, { code: "blob_mismatch", message: `the bytes hash to ${sha}, not ${m[1]}` });
      this.blobs.set(sha, bytes);
      return this.json(res, 201, { sha256: sha, size: bytes.length });
    }
    m = /^\/v1\/tasks\/([^/]+)(\/.*)?$/.exec(path);
    if (m) {
      const t = this.tasks.find((x) => x.id === decodeURIComponent(m[1]));
      if (!t) return this.json(res, 404, { code: "not_found", message: `no task ${m[1]} on this hub` });
      const rest = m[2] ?? "";
      if (rest === "") return this.json(res, 200, { ...t, log_size: (this.logs.get(t.id) ?? Buffer.alloc(0)).length });
      if (rest === "/cancel" || rest === "/pause" || rest === "/resume") {
        t.state = rest === "/cancel" ? "canceled" : rest === "/pause" ? "paused" : "running";
        if (t.state === "canceled") t.finished_at = Date.now();
        t.history.push({ state: t.state, at: Date.now(), reason: "asked from the console" });
        this.emit("tasks", { ids: [t.id] });
        return this.json(res, 200, t);
      }
      if (rest === "/outputs") {
        return this.json(res, 200, {
          task: t.id,
          outputs: [
            { path: "out/result.csv", size: 1234, sha256: "c".repeat(64), stored: "hub", node: null, node_online: null, node_last_seen: null },
            { path: "out/model.bin", size: 5e8, sha256: "d".repeat(64), stored: "node", node: "gpu-1", node_online: false, node_last_seen: Date.now() - 600e3 },
          ],
        });
      }
      if (rest === "/log") return this.log(t, url, req, res);
      if (rest === "/log/times") {
        // The marks from the append holding byte `offset` on, as the hub gives them.
        const offset = Number(url.searchParams.get("offset") ?? 0);
        const marks = this.logMarks.get(t.id) ?? [];
        const first = Math.max(0, marks.filter((m) => m.offset <= offset).length - 1);
        return this.json(res, 200, { marks: marks.slice(first) });
      }
    }
    this.json(res, 404, { code: "not_found", message: `no route ${req.method} ${path}` });
  }

  list(url, res) {
    const p = url.searchParams;
    let all = this.tasks.filter(
      (t) =>
        (!p.get("state") || t.state === p.get("state")) &&
        (!p.get("name") || t.name.toLowerCase().includes(p.get("name").toLowerCase())) &&
        (!p.get("node") || p.get("node") === "gpu-1" || p.get("node") === "n1") &&
        (!p.get("label") || p.get("label") === "gpu"),
    );
    const before = p.get("before");
    if (before) {
      const at = all.findIndex((t) => t.id === before);
      all = all.slice(at + 1);
    }
    const limit = Number(p.get("limit") ?? 100);
    const page = all.slice(0, limit);
    const next = all.length > limit ? page[page.length - 1].id : null;
    this.json(res, 200, { tasks: page, next });
  }

  /** The log, sent in small pieces cut inside characters; the first follow of the live task breaks after a few. */
  async log(t, url, req, res) {
    const offset = Number(url.searchParams.get("offset") ?? 0);
    const follow = url.searchParams.get("follow") === "true";
    res.writeHead(200, { "content-type": "application/octet-stream" });
    const bytes = () => this.logs.get(t.id) ?? Buffer.alloc(0);
    if (!follow) return res.end(bytes());
    let at = offset;
    const first = (this.follows = (this.follows ?? 0) + 1) === 1;
    const send = async () => {
      while (at < bytes().length) {
        const end = Math.min(bytes().length, at + 5);
        res.write(bytes().subarray(at, end));
        at = end;
        await new Promise((r) => setTimeout(r, 5));
        if (first && at >= 20) {
          // A broken stream: the page must carry on from byte 20.
          res.destroy();
          return false;
        }
      }
      return true;
    };
    if (!(await send())) return;
    if (t.state !== "running") return res.end();
    await new Promise((wake) => (this.logWaiters = [...(this.logWaiters ?? []), wake]));
    if (!(await send())) return;
    res.end();
  }

  file(path, res) {
    const file = normalize(join(this.root, decodeURIComponent(path)));
    if (!file.startsWith(this.root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404);
      return res.end("not found");
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(readFileSync(file));
  }
}
