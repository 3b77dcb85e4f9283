// Task detail: name, state, spec, timeline, exit, outputs, usage, folder, the
// log; polled every 2 s; reached from a row, a notification and the tray.
import assert from "node:assert/strict";
import { openTask, step, test, until, visibleLogLines } from "../lib.mjs";

test("task detail: spec, timeline, usage, outputs and the log of a running task; polled every 2 s", async (t) => {
  const app = await t.open();
  const ids = await app.mock((m) => m.ids);
  await openTask(app, ids.running);
  assert.equal((await app.id("task-detail-name").innerText()).trim(), "train-resnet50");
  const spec = app.id("task-spec");
  await spec.waitFor();
  assert.match(await spec.innerText(), /--arch", "resnet50"/, "the spec's YAML");
  assert.ok((await spec.locator("pre").count()) > 0 || (await spec.evaluate((e) => e.tagName)) === "PRE", "the spec is in a <pre>");
  const timeline = app.id("task-timeline").locator("li");
  await until(async () => (await timeline.count()) === 4, "four timeline entries (queued, assigned, pulling, running)");
  assert.match(await timeline.nth(0).innerText(), /queued/i);
  assert.match(await timeline.nth(3).innerText(), /running/i);
  const usage = await app.id("task-usage").innerText();
  assert.match(usage, /\d+(\.\d+)?\s*%/, "CPU %");
  assert.match(usage, /GB|GiB/, "memory and GPU memory");
  const links = app.id("task-outputs").getByTestId("output-link");
  await until(async () => (await links.count()) === 2, "two output links");
  assert.deepEqual(await links.evaluateAll((els) => els.map((e) => e.getAttribute("data-path"))), [
    `tasks/${ids.running}/checkpoints/epoch_010.pt`,
    `tasks/${ids.running}/checkpoints/epoch_020.pt`,
  ]);
  await app.id("task-folder").waitFor();
  const log = app.id("log-view");
  assert.equal(await log.getAttribute("data-task-id"), ids.running);
  await until(async () => (await visibleLogLines(app)).some((l) => l.includes(step(400))), "the log's last line on screen");
  assert.equal((await app.callsOf("follow_log")).at(-1)?.args.id, ids.running, "follow_log for this task");
  // Polled every 2 s while open.
  const before = (await app.callsOf("task_detail")).length;
  await new Promise((r) => setTimeout(r, 4300));
  const polls = (await app.callsOf("task_detail")).length - before;
  assert.ok(polls >= 1 && polls <= 3, `task_detail polled about every 2 s (${polls} calls in 4.3 s)`);
  await t.shot(app, "task-detail");

  // Back to the list; the log is unfollowed.
  await app.id("back").click();
  await app.page.waitForFunction(() => !document.querySelector('[data-testid="screen-task-detail"]'));
  await until(async () => (await app.callsOf("unfollow_log")).length >= 1, "unfollow_log after leaving the detail");

  const dark = await t.open({ colorScheme: "dark" });
  await openTask(dark, ids.running);
  await until(async () => (await visibleLogLines(dark)).some((l) => l.includes(step(400))), "the log in the dark detail");
  await t.shot(dark, "task-detail-dark");
});

test("task detail: a failed task shows its exit code and reason; an unknown spec says not known", async (t) => {
  const app = await t.open();
  const ids = await app.mock((m) => m.ids);
  await openTask(app, ids.failed);
  const exit = app.id("task-exit");
  await exit.waitFor();
  assert.match(await exit.innerText(), /137/, "exit code");
  assert.match(await exit.innerText(), /out of memory/i, "reason");
  await until(async () => (await app.id("task-timeline").locator("li").count()) === 5, "five timeline entries");
  assert.match(await app.id("task-timeline").locator("li").last().innerText(), /failed/i);
  await until(async () => (await app.id("log-view").innerText()).includes("Killed"), "the failed task's log");
  await app.id("log-done").waitFor();
  assert.equal(await app.count("task-usage") === 0 || !/\d+\s*%/.test(await app.id("task-usage").innerText()), true, "no live usage for an ended task");

  await app.id("back").click();
  await openTask(app, ids.canceled);
  await until(async () => /not known/i.test(await app.id("task-spec").innerText()), "task-spec to say not known");
});

test("task detail: an output link opens Storage at the file's folder with the file selected", async (t) => {
  const app = await t.open();
  const ids = await app.mock((m) => m.ids);
  await openTask(app, ids.succeeded);
  const path = `tasks/${ids.succeeded}/index.json`;
  const link = app.page.locator(`[data-testid="output-link"][data-path="${path}"]`);
  await link.click();
  await app.id("screen-storage").waitFor();
  const row = app.page.locator(`[data-testid="storage-row"][data-path="${path}"]`);
  await row.waitFor({ timeout: 5000 });
  await until(async () => (await row.getAttribute("data-selected")) === "true", "the file's row to be selected");
  assert.ok(await row.isVisible(), "the selected row is scrolled into view");
  // Its ancestors were expanded.
  for (const p of ["tasks", `tasks/${ids.succeeded}`]) {
    assert.ok((await app.callsOf("storage_list")).some((c) => c.args.path === p), `storage_list(${p}) to expand the ancestors`);
  }
});

test("task detail: the open-task event (a notification click) opens that task; open-settings opens Settings", async (t) => {
  const app = await t.open();
  const ids = await app.mock((m) => m.ids);
  await app.mock((m, id) => m.emit("open-task", { id }), ids.failed);
  await app.id("screen-task-detail").waitFor();
  await until(async () => (await app.id("task-detail-name").innerText()).trim() === "render-blender-scene12", "the failed task's detail");
  await app.mock((m) => m.emit("open-settings", null));
  await app.id("screen-settings").waitFor();
  // open-settings (the header's button) still opens Settings from elsewhere.
  await app.go("overview");
  await app.id("open-settings").click();
  await app.id("screen-settings").waitFor();
});

test("task detail: a GPU task's use (memory, utilization, energy, GPU time) with charts of its life", async (t) => {
  const app = await t.open();
  const ids = await app.mock((m) => m.ids);
  await openTask(app, ids.running);
  const gpu = app.id("task-gpu-use");
  await gpu.waitFor();
  const text = await gpu.innerText();
  assert.match(text, /18\.9 GiB/, "memory now");
  assert.match(text, /peak 19\.4 GiB/, "its peak");
  assert.match(text, /83%/, "utilization now");
  assert.match(text, /mean 78%/, "its mean");
  assert.match(text, /413 Wh/, "energy");
  assert.match(text, /1\.3 GPU-hours/, "GPU time");
  assert.match(text, /2 GPUs/, "how many");
  const charts = app.id("gpu-use-charts").locator("canvas");
  await until(async () => (await charts.count()) === 2, "a memory and a utilization chart");
  await t.shot(app, "task-detail-gpu");

  // A task that held no GPU has no such section; nor does any without NVML.
  await app.id("back").click();
  await openTask(app, ids.failed);
  await app.id("task-exit").waitFor();
  assert.equal(await app.id("task-gpu-use").count(), 0);
  const plain = await t.open({ query: { gpu: "none" } });
  await openTask(plain, ids.running);
  await plain.id("task-usage").waitFor();
  assert.equal(await plain.id("task-gpu-use").count(), 0);
});
