#!/usr/bin/env node
// A browser check of the console's Tasks, Task detail and Submit pages over
// a mocked hub (tasks-mockhub.mjs), in Debian's Chromium through playwright-core,
// under the console's CSP. Writes screenshots (1280×800 and 390 px wide,
// light and dark) to GANTRY_CONSOLE_SHOTS or a temporary folder.
//
//   node tests/console/tasks.mjs
//
// It exits 1 on the first failed check, naming it.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MockHub } from "./tasks-mockhub.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "gantry-console-tasks-"));
const shots = process.env.GANTRY_CONSOLE_SHOTS || join(work, "shots");
mkdirSync(shots, { recursive: true });

const { build } = await import("vite");
await build({ configFile: join(here, "tasks-vite.config.ts"), logLevel: "warn", build: { outDir: join(work, "site"), emptyOutDir: true } });

const hub = new MockHub(join(work, "site"));
const base = await hub.start();
const { launchChromium } = await import("../chromium.mjs");
const browser = await launchChromium();

const problems = [];
async function page(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const p = await context.newPage();
  p.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource|ERR_/.test(m.text())) problems.push(m.text());
  });
  p.on("pageerror", (e) => problems.push(String(e)));
  return p;
}

const step = (name) => console.log(`check: ${name}`);
const rows = (p) => p.locator('[data-testid="task-row"]');

try {
  const p = await page();

  step("the Tasks page lists the newest 100, pages on, and back to the first");
  await p.goto(`${base}/#/tasks`);
  await p.waitForSelector('[data-testid="screen-tasks"] [data-testid="task-row"]');
  assert.equal(await rows(p).count(), 100);
  assert.equal(await rows(p).first().getAttribute("data-task-id"), "tlive");
  await p.click('[data-testid="tasks-next"]');
  await p.waitForFunction(() => document.querySelector('[data-testid="task-row"]')?.getAttribute("data-task-id") === "t0150");
  assert.ok(hub.calls.some((c) => c.includes("before=t0151")), "the second page asks with before=");
  await p.click('[data-testid="tasks-next"]');
  await p.waitForFunction(() => document.querySelectorAll('[data-testid="task-row"]').length === 51);
  assert.ok(await p.isDisabled('[data-testid="tasks-next"]'));
  await p.click('[data-testid="tasks-first"]');
  await p.waitForFunction(() => document.querySelector('[data-testid="task-row"]')?.getAttribute("data-task-id") === "tlive");
  await p.screenshot({ path: join(shots, "tasks-1280-light.png") });

  step("filters go into the hash and the list; none matching says so");
  await p.selectOption('[data-testid="task-filter-state"]', "running");
  await p.waitForFunction(() => location.hash === "#/tasks?state=running");
  await p.waitForFunction(() => [...document.querySelectorAll('[data-testid="task-row"]')].every((r) => r.getAttribute("data-state") === "running"));
  assert.equal(await rows(p).count(), 6);
  await p.fill('[data-testid="task-filter-name"]', "train");
  await p.waitForFunction(() => location.hash === "#/tasks?state=running&name=train");
  await p.waitForFunction(() => document.querySelectorAll('[data-testid="task-row"]').length === 5);
  await p.fill('[data-testid="task-filter-name"]', "nothing-like-this");
  await p.waitForSelector('[data-testid="tasks-empty"]');
  // A bookmarked view opens filtered.
  const q = await page();
  await q.goto(`${base}/#/tasks?state=failed&name=job-7`);
  await q.waitForSelector('[data-testid="task-row"]');
  assert.equal(await q.inputValue('[data-testid="task-filter-state"]'), "failed");
  assert.equal(await q.inputValue('[data-testid="task-filter-name"]'), "job-7");
  assert.ok((await q.locator('[data-testid="task-row"]').evaluateAll((r) => r.map((x) => x.dataset.state))).every((s) => s === "failed"));
  await q.context().close();

  step("a new task appears on the first page by itself; cancel on a row");
  await p.goto(`${base}/#/tasks`);
  await p.waitForFunction(() => document.querySelectorAll('[data-testid="task-row"]').length === 100);
  const listedBefore = hub.calls.filter((c) => c.startsWith("GET /v1/tasks?")).length;
  hub.addTask("arrived-live");
  await p.waitForFunction(() => document.querySelector('[data-testid="task-row"] a')?.textContent === "arrived-live");
  assert.equal(hub.calls.filter((c) => c.startsWith("GET /v1/tasks?")).length, listedBefore + 1, "one read for one event");
  const running = p.locator('[data-testid="task-row"][data-task-id="t0200"]');
  await running.locator('[data-testid="task-cancel"]').click();
  await p.waitForSelector('[data-testid="task-row"][data-task-id="t0200"][data-state="canceled"]');
  assert.ok(hub.calls.includes("POST /v1/tasks/t0200/cancel"));

  step("a row opens its task; the detail shows state, timeline, outputs, spec and the live log");
  await p.click('[data-testid="task-row"][data-task-id="tlive"] .created');
  await p.waitForSelector('[data-testid="screen-task-detail"]');
  assert.equal(await p.evaluate(() => location.hash), "#/tasks/tlive");
  assert.equal(await p.textContent('[data-testid="task-node"]'), "gpu-1");
  assert.equal(await p.locator('[data-testid="timeline-entry"]').count(), 3);
  assert.match(await p.textContent('[data-testid="task-spec"]'), /"image": "busybox:1.36"/);
  const gpu = await p.textContent('[data-testid="task-gpu-use"]');
  assert.match(gpu, /GPU use so far/);
  assert.match(gpu, /3(\.0)? GiB\s*peak 5(\.0)? GiB/, "memory now and its peak");
  assert.match(gpu, /62%\s*mean 57%/, "utilization now and its mean");
  assert.match(gpu, /754 GPU-seconds/);
  assert.match(gpu, /41 Wh/);
  await p.waitForSelector('[data-testid="output-row"][data-path="out/model.bin"] [data-testid="output-node-offline"]');
  assert.equal(await p.getAttribute('[data-testid="output-row"][data-path="out/result.csv"] [data-testid="output-download"]', "href"), "/v1/tasks/tlive/outputs/out/result.csv");
  await p.waitForFunction(() => document.querySelector('[data-testid="log-view"]')?.textContent?.includes("line three"));
  const text = await p.locator('[data-testid="log-line"]').allTextContents();
  assert.deepEqual(text.slice(0, 3), ["starting", "Grüße aus Köln €", "line three"], "the log decodes across cut characters and a broken stream");
  assert.ok(hub.calls.some((c) => c === "GET /v1/tasks/tlive/log?offset=20&follow=true"), "the log reconnects from the last byte");
  assert.equal(await p.getAttribute('[data-testid="log-line"] .ansi-fg-2', "class"), "ansi-fg-2");
  hub.finishLive();
  await p.waitForSelector('[data-testid="log-done"]');
  await p.waitForSelector('[data-testid="task-state"]:text("succeeded")');
  assert.equal(await p.textContent('[data-testid="task-exit-code"]'), "0");
  const last = await p.textContent('[data-testid="task-gpu-use"]');
  assert.ok(!/so far/.test(last), "final figures");
  assert.match(last, /800 GPU-seconds/);
  assert.match(last, /44 Wh \(while alone on its GPUs; shared for part of its run\)/);
  assert.deepEqual((await p.locator('[data-testid="log-line"]').allTextContents()).at(-1), "more: 😀 done");
  assert.equal(await p.locator('[data-testid="timeline-entry"]').count(), 4);
  await p.fill('[data-testid="log-search"]', "K.ln");
  await p.check('[data-testid="log-regex"]');
  await p.waitForSelector('[data-testid="log-match-count"]:text("1 match")');
  step("Times shows when the hub received each line, live lines included");
  const logTime = (ms) => {
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, "0");
    return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
  };
  await p.click('[data-testid="log-timestamps"]');
  assert.equal(await p.getAttribute('[data-testid="log-timestamps"]', "aria-pressed"), "true");
  await p.waitForFunction(() => document.querySelectorAll('[data-testid="log-line"] .ts').length === 4);
  assert.deepEqual(
    await p.locator('[data-testid="log-line"] .ts').allTextContents(),
    [1_001, 2_002, 2_002, 3_003].map((ms) => logTime(hub.base + ms)),
    "each line shows the time of the append holding its first byte",
  );
  assert.ok(hub.calls.includes("GET /v1/tasks/tlive/log/times?offset=0"), "the marks of what existed are read once");
  assert.ok(hub.calls.includes("GET /v1/tasks/tlive/log/times?offset=51"), "the live bytes' marks are read from where the known ones end");
  await p.click('[data-testid="log-timestamps"]');
  await p.screenshot({ path: join(shots, "task-detail-1280-light.png"), fullPage: true });

  step("the editor shows the hub's problems as you type; one click goes to the line");
  await p.goto(`${base}/#/submit`);
  await p.waitForSelector('[data-testid="job-editor"]');
  await p.fill('[data-testid="job-editor"]', "name: x\nimag: busybox\ncommand: [true]\n");
  await p.waitForSelector('[data-testid="job-problem"][data-path="imag"][data-line="2"]');
  await p.click('[data-testid="job-problem"][data-path="imag"]');
  assert.equal(await p.evaluate(() => document.activeElement?.getAttribute("data-testid")), "job-editor");
  assert.equal(await p.evaluate(() => document.querySelector("textarea").selectionStart), 8);
  await p.click('[data-testid="job-submit"]');
  await p.waitForSelector('[data-testid="job-problem"]');
  assert.equal(hub.submitted.length, 0, "a job with problems is not submitted");

  step("files are hashed, uploaded with progress, skipped when held, and become inputs");
  await p.fill('[data-testid="job-editor"]', "name: with-files\nimage: busybox:1.36\ninputs:\n  " + "e".repeat(64) + ": old.txt\n");
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 256;
  await p.setInputFiles('[data-testid="job-files"]', [
    { name: "data.bin", mimeType: "application/octet-stream", buffer: big },
    { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("héllo\n") },
  ]);
  await p.waitForSelector('[data-testid="job-file-row"][data-name="notes.txt"]');
  await p.fill('[data-testid="job-file-row"][data-name="notes.txt"] input[type="text"]', "docs/notes.txt");
  await p.click('[data-testid="job-submit"]');
  await p.waitForSelector('[data-testid="submitted-task"]');
  const { createHash } = await import("node:crypto");
  const shaBig = createHash("sha256").update(big).digest("hex");
  const shaNotes = createHash("sha256").update("héllo\n").digest("hex");
  assert.ok(hub.blobs.has(shaBig) && hub.blobs.has(shaNotes), "both blobs arrived whole (the mock checks their hash)");
  const sent = hub.submitted.at(-1).text;
  assert.match(sent, new RegExp(`inputs:\\n  ${"e".repeat(64)}: old.txt\\n  ${shaBig}: "data.bin"\\n  ${shaNotes}: "docs/notes.txt"`));
  assert.match(await p.getAttribute('[data-testid="submitted-task"]', "href"), /^#\/tasks\/tnew/);
  const puts = hub.calls.filter((c) => c.startsWith("PUT /v1/blobs/")).length;
  await p.click('[data-testid="job-submit"]');
  await p.waitForFunction((n) => document.querySelectorAll('[data-testid="submitted-task"]').length === 1 && n >= 0, puts);
  await p.waitForSelector('[data-testid="job-file-row"] :text("already on the hub")');
  assert.equal(hub.calls.filter((c) => c.startsWith("PUT /v1/blobs/")).length, puts, "held blobs are not sent again");
  await p.screenshot({ path: join(shots, "submit-1280-light.png"), fullPage: true });

  step("the form builds a JSON job");
  await p.click('[data-testid="submit-tab-form"]');
  await p.fill('[data-testid="new-task-image"]', "python:3.12");
  await p.fill('[data-testid="new-task-command"]', `python -c "print('hi there')"`);
  await p.fill('[data-testid="new-task-env"]', "EPOCHS=3");
  await p.selectOption('[data-testid="new-task-gpus"]', "count");
  await p.fill('[data-testid="new-task-gpus-value"]', "2");
  await p.fill('[data-testid="new-task-labels"]', "gpu, a100");
  await p.fill('[data-testid="new-task-node"]', "gpu-1");
  const before = hub.submitted.length;
  await p.click('[data-testid="new-task-submit"]');
  await p.waitForFunction(() => document.querySelector('[data-testid="submitted-task"]') !== null);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(hub.submitted.length, before + 1);
  const job = JSON.parse(hub.submitted.at(-1).text);
  assert.deepEqual(
    { ...job, inputs: undefined },
    { image: "python:3.12", command: ["python", "-c", "print('hi there')"], env: { EPOCHS: "3" }, resources: { gpus: 2 }, labels: ["gpu", "a100"], node: "gpu-1", inputs: undefined },
  );
  assert.equal(Object.keys(job.inputs).length, 2, "the chosen files go with the form too");
  await p.screenshot({ path: join(shots, "submit-form-1280-light.png"), fullPage: true });

  step("phone width and dark");
  for (const scheme of ["light", "dark"]) {
    const m = await page({ viewport: { width: 390, height: 844 }, colorScheme: scheme });
    for (const [route, name] of [["#/tasks", "tasks"], ["#/tasks/t0249", "task-detail"], ["#/submit", "submit"]]) {
      await m.goto(`${base}/${route}`);
      await m.waitForSelector(`[data-testid="screen-${name}"]`);
      await m.waitForTimeout(400);
      await m.screenshot({ path: join(shots, `${name}-390-${scheme}.png`), fullPage: true });
      const wide = await m.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= 390, `${name} fits 390 px (it is ${wide})`);
    }
    await m.context().close();
  }
  const d = await page({ colorScheme: "dark" });
  await d.goto(`${base}/#/tasks/t0249`);
  await d.waitForSelector('[data-testid="timeline-entry"]');
  await d.screenshot({ path: join(shots, "task-detail-1280-dark.png"), fullPage: true });
  await d.goto(`${base}/#/tasks`);
  await d.waitForSelector('[data-testid="task-row"]');
  await d.screenshot({ path: join(shots, "tasks-1280-dark.png") });

  assert.deepEqual(problems, [], "the pages logged no errors (a CSP violation would show here)");
  console.log(`console tasks check: passed; screenshots in ${shots}`);
} catch (e) {
  console.log(`console tasks check: FAILED\n${e.stack ?? e}\nproblems: ${problems.join("\n")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  await hub.stop();
  if (!process.env.GANTRY_CONSOLE_SHOTS && process.exitCode !== 1) rmSync(work, { recursive: true, force: true });
}
