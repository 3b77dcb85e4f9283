#!/usr/bin/env node
// The console's figures, each beside a floor measured in the same run in the
// same browser (crates/bench/src/console.rs runs this against a release hub
// and records the result in docs/benchmarks.md):
//
// - load: a fresh page at #/tasks until its first task row shows, against the
//   floor of the same page fetching /v1/tasks?limit=100 itself;
// - filter: typing a name that one task in TASKS carries until the list shows
//   only it, against the floor of that filtered fetch;
// - log: a task whose log grows by LOG_RATE lines a second (the bench plays
//   the node: it registers with a node token, takes the task and appends its
//   log in 100 ms batches), followed on the task page: how far the last line
//   on screen trails the last line sent, against the floor of a bare
//   streaming fetch in the same page; and the longest gap between frames;
// - weight: the console's JavaScript and CSS as gzip, against the desktop's.
//
// Environment: GANTRY_HUB_URL, GANTRY_ADMIN_TOKEN, GANTRY_NODE_TOKEN,
// GANTRY_BENCH_TASKS (default 100000), GANTRY_BENCH_LOG_SECONDS (default 10),
// GANTRY_CHROMIUM. Prints one JSON object on stdout; progress on stderr.

import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { launchChromium } from "../chromium.mjs";

const hub = process.env.GANTRY_HUB_URL.replace(/\/$/, "");
const admin = process.env.GANTRY_ADMIN_TOKEN;
const nodeToken = process.env.GANTRY_NODE_TOKEN;
const TASKS = Number(process.env.GANTRY_BENCH_TASKS ?? "100000");
const LOG_SECONDS = Number(process.env.GANTRY_BENCH_LOG_SECONDS ?? "10");
const LOG_RATE = 10_000;
const ROUNDS = 5;
const ui = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const say = (text) => process.stderr.write(`bench console: ${text}\n`);

async function call(token, method, path, body, type = "application/json") {
  const response = await fetch(`${hub}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { "Content-Type": type } : {}) },
    body: body === undefined || typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** TASKS queued tasks (a label no node has, so none runs), one of them named `needle-<n>`. */
async function seed() {
  const have = (await call(admin, "GET", "/v1/tasks?limit=1")).tasks.length;
  if (have > 0) throw new Error("the bench needs an empty hub");
  const needle = Math.floor(TASKS / 2);
  let next = 0;
  const started = Date.now();
  async function worker() {
    while (next < TASKS) {
      const i = next++;
      const name = i === needle ? `needle-${i}` : `task-${i}`;
      await call(admin, "POST", "/v1/tasks", { name, image: "busybox", command: ["true"], labels: ["nowhere"] });
      if (i % 10_000 === 0) say(`seeding: ${i} of ${TASKS} tasks`);
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker));
  say(`seeded ${TASKS} tasks in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return `needle-${needle}`;
}

async function signedIn(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${hub}/`);
  await page.getByTestId("sign-in-token").fill(admin);
  await page.getByTestId("sign-in-submit").click();
  await page.getByTestId("screen-cluster").waitFor();
  return { context, page };
}

/** Median ms from navigation to the first task row, and of the page's own fetch of the same page of tasks. */
async function load(context) {
  const console_ = [];
  const floor = [];
  for (let round = 0; round < ROUNDS; round++) {
    const page = await context.newPage();
    const start = Date.now();
    await page.goto(`${hub}/#/tasks`);
    await page.getByTestId("task-row").first().waitFor();
    console_.push(Date.now() - start);
    floor.push(
      await page.evaluate(async () => {
        const t = performance.now();
        const body = await (await fetch("/v1/tasks?limit=100")).json();
        if (body.tasks.length === 0) throw new Error("no tasks");
        return performance.now() - t;
      }),
    );
    await page.close();
  }
  return { console_ms: median(console_), floor_ms: median(floor) };
}

/** Median ms from typing the needle's name to the list showing only it, and the filtered fetch alone. */
async function filter(page, needle) {
  const console_ = [];
  const floor = [];
  for (let round = 0; round < ROUNDS; round++) {
    await page.goto(`${hub}/#/tasks`);
    await page.getByTestId("task-row").first().waitFor();
    const field = page.getByTestId("task-filter-name");
    const start = Date.now();
    await field.fill(needle);
    await page.waitForFunction(() => {
      const rows = document.querySelectorAll('[data-testid="task-row"]');
      return rows.length === 1;
    });
    console_.push(Date.now() - start);
    floor.push(
      await page.evaluate(async (name) => {
        const t = performance.now();
        const body = await (await fetch(`/v1/tasks?limit=100&name=${encodeURIComponent(name)}`)).json();
        if (body.tasks.length !== 1) throw new Error(`${body.tasks.length} tasks match`);
        return performance.now() - t;
      }, needle),
    );
  }
  return { console_ms: median(console_), floor_ms: median(floor) };
}

/** The bench as a node: registers, takes the one task meant for it, says it runs. */
async function takeTask() {
  await call(nodeToken, "POST", "/v1/agent/register", { version: "bench", labels: ["bench-log"] });
  const { id } = await call(admin, "POST", "/v1/tasks", { name: "log-10k", image: "busybox", command: ["true"], labels: ["bench-log"] });
  for (;;) {
    const assignment = await call(nodeToken, "GET", "/v1/agent/next?wait=5");
    if (assignment?.task?.id === id) break;
  }
  await call(nodeToken, "POST", `/v1/tasks/${id}/events`, { event: "running" });
  return id;
}

/** Follows the task's log on its page while the bench appends LOG_RATE lines a second. */
async function log(page) {
  const id = await takeTask();
  await page.goto(`${hub}/#/tasks/${id}`);
  await page.getByTestId("log-view").waitFor();
  // The floor: a bare streaming fetch of the same log in the same page, counting lines.
  await page.evaluate((taskId) => {
    window.__raw = 0;
    window.__gap = 0;
    let last = performance.now();
    const frame = (now) => {
      window.__gap = Math.max(window.__gap, now - last);
      last = now;
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    fetch(`/v1/tasks/${taskId}/log?follow=true`).then(async (response) => {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        for (const byte of value) if (byte === 10) window.__raw++;
      }
    });
  }, id);
  const perBatch = LOG_RATE / 10;
  let offset = 0;
  let sent = 0;
  const consoleLag = [];
  const rawLag = [];
  const start = Date.now();
  for (let batch = 0; batch < LOG_SECONDS * 10; batch++) {
    let text = "";
    for (let i = 0; i < perBatch; i++) {
      sent++;
      text += `\u001b[32mline ${sent}\u001b[0m of the benchmark's log, with some words to make it a line of average length\n`;
    }
    const bytes = Buffer.from(text);
    await call(nodeToken, "POST", `/v1/tasks/${id}/log?offset=${offset}`, bytes, "application/octet-stream");
    offset += bytes.length;
    const due = start + (batch + 1) * 100;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    if (batch % 5 === 4) {
      const shown = await page.evaluate(() => {
        const lines = [...document.querySelectorAll('[data-testid="log-line"]')];
        const numbers = lines.map((l) => Number(/line (\d+)/.exec(l.textContent ?? "")?.[1] ?? 0));
        return { last: Math.max(0, ...numbers), raw: window.__raw };
      });
      consoleLag.push(((sent - shown.last) / LOG_RATE) * 1000);
      rawLag.push(((sent - shown.raw) / LOG_RATE) * 1000);
    }
  }
  await call(nodeToken, "POST", `/v1/tasks/${id}/events`, { event: "finished", exit_code: 0 });
  const caughtUp = Date.now();
  await page.waitForFunction(
    (total) =>
      [...document.querySelectorAll('[data-testid="log-line"]')].some((l) => (l.textContent ?? "").includes(`line ${total} `)),
    sent,
    { timeout: 60_000 },
  ).catch(async (error) => {
    const shown = await page.evaluate(() => [...document.querySelectorAll('[data-testid="log-line"]')].slice(-3).map((l) => (l.textContent ?? "").slice(0, 80)));
    throw new Error(`the last line never showed (${sent} sent; the last on screen: ${JSON.stringify(shown)}): ${error.message}`);
  });
  const gap = await page.evaluate(() => window.__gap);
  return {
    lines: sent,
    console_lag_ms: median(consoleLag),
    console_lag_max_ms: Math.max(...consoleLag),
    floor_lag_ms: median(rawLag),
    caught_up_ms: Date.now() - caughtUp,
    longest_frame_gap_ms: gap,
  };
}

/** The gzip size of a built folder's JS and CSS. */
function weight(folder) {
  const assets = join(ui, folder, "assets");
  let total = 0;
  for (const name of readdirSync(assets)) {
    if (name.endsWith(".js") || name.endsWith(".css")) total += gzipSync(readFileSync(join(assets, name)), { level: 9 }).length;
  }
  return total;
}

const browser = await launchChromium();
try {
  const needle = await seed();
  const { context, page } = await signedIn(browser);
  say("page load to the first tasks");
  const loaded = await load(context);
  say("filtering by name");
  const filtered = await filter(page, needle);
  say(`a log of ${LOG_RATE} lines a second for ${LOG_SECONDS} s`);
  const logged = await log(page);
  const figures = {
    tasks: TASKS,
    load: loaded,
    filter: filtered,
    log: logged,
    weight: { console_gzip_bytes: weight("dist-console"), desktop_gzip_bytes: weight("dist") },
    browser: `Chromium ${browser.version()}`,
  };
  console.log(JSON.stringify(figures));
} finally {
  await browser.close();
}
