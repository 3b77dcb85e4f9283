// Tasks: every task as a task-row, the filter, pull progress, exit codes and
// the row's buttons.
import assert from "node:assert/strict";
import { choose, test, until } from "../lib.mjs";

const rowsStates = (app) => app.id("task-row").evaluateAll((els) => els.map((e) => e.getAttribute("data-state")));

test("tasks: six task rows; the filter narrows them; pull-progress for the pulling task; exit codes", async (t) => {
  const app = await t.open();
  const ids = await app.mock((m) => m.ids);
  await app.go("tasks");
  await until(async () => (await app.count("task-row")) === 6, "six task rows");
  assert.deepEqual(
    (await rowsStates(app)).sort(),
    ["canceled", "failed", "paused", "pulling", "running", "succeeded"],
    "every task once",
  );
  // Held tasks come first, then recent ones (newest first).
  const order = await app.id("task-row").evaluateAll((els) => els.map((e) => e.getAttribute("data-task-id")));
  assert.deepEqual(order, [ids.running, ids.pulling, ids.paused, ids.succeeded, ids.failed, ids.canceled], "status.tasks then status.recent");

  const filter = app.id("task-filter");
  await filter.waitFor();
  const expect = {
    running: ["pulling", "running"],
    paused: ["paused"],
    succeeded: ["succeeded"],
    failed: ["failed"],
    canceled: ["canceled"],
    all: ["canceled", "failed", "paused", "pulling", "running", "succeeded"],
  };
  for (const [value, states] of Object.entries(expect)) {
    await choose(filter, value);
    await until(async () => JSON.stringify((await rowsStates(app)).sort()) === JSON.stringify(states), `filter ${value} to show ${states}`);
  }

  // The pulling task's progress: a <progress> with value = done bytes, max = total bytes, and "x MB of y MB".
  const pullRow = app.page.locator(`[data-testid="task-row"][data-task-id="${ids.pulling}"]`);
  const progress = pullRow.getByTestId("pull-progress");
  await progress.first().waitFor();
  const bar = await progress.first().evaluate((el) => {
    const p = el.tagName === "PROGRESS" ? el : el.querySelector("progress");
    return p ? { value: p.value, max: p.max, text: el.closest('[data-testid="task-row"]')?.textContent ?? "" } : null;
  });
  assert.ok(bar, "pull-progress is or holds a <progress>");
  assert.equal(bar.max, 4_567_890_123, "max is total_bytes");
  assert.ok(bar.value >= 1_234_567_890 && bar.value <= bar.max, `value is done_bytes: ${bar.value}`);
  assert.match(bar.text, /\d[\d.,]*\s*[KMGT]?i?B\s+of\s+\d[\d.,]*\s*[KMGT]?i?B/, "the row says how much of the image is pulled");
  assert.equal(await app.page.locator('[data-testid="task-row"]:not([data-state="pulling"]) [data-testid="pull-progress"]').count(), 0, "only the pulling task has pull-progress");

  // Exit codes.
  const exitOf = (id) => app.page.locator(`[data-testid="task-row"][data-task-id="${id}"] [data-testid="task-exit-code"]`).innerText();
  assert.match(await exitOf(ids.failed), /137/);
  assert.match(await exitOf(ids.succeeded), /\b0\b/);
  await t.shot(app, "tasks");
});

test("tasks: pause, resume and cancel invoke their commands with the task's id", async (t) => {
  const app = await t.open();
  const ids = await app.mock((m) => m.ids);
  await app.go("tasks");
  const row = (id) => app.page.locator(`[data-testid="task-row"][data-task-id="${id}"]`);
  await row(ids.running).getByTestId("task-pause").click();
  await until(async () => (await app.callsOf("pause_task")).length === 1, "pause_task");
  assert.deepEqual((await app.callsOf("pause_task"))[0].args, { id: ids.running });
  await row(ids.paused).getByTestId("task-resume").click();
  await until(async () => (await app.callsOf("resume_task")).length === 1, "resume_task");
  assert.deepEqual((await app.callsOf("resume_task"))[0].args, { id: ids.paused });
  // The buttons act without opening the detail.
  assert.equal(await app.count("screen-task-detail"), 0, "a row's button does not open the detail");
  await row(ids.pulling).getByTestId("task-cancel").click();
  // A confirmation may come first; accept it if there is one.
  await until(async () => {
    if ((await app.callsOf("cancel_task")).length === 1) return true;
    const confirm = app.page.getByRole("button", { name: /^(cancel task|yes|confirm)/i });
    if ((await confirm.count()) > 0) await confirm.first().click();
    return false;
  }, "cancel_task");
  assert.deepEqual((await app.callsOf("cancel_task"))[0].args, { id: ids.pulling });
  await until(async () => (await row(ids.pulling).getAttribute("data-state")) === "canceled", "the canceled task's row to show canceled");
});

test("tasks: with no task, empty-tasks shows (and no task-row)", async (t) => {
  const app = await t.open({ query: { tasks: "none" } });
  await app.go("tasks");
  await app.id("empty-tasks").waitFor();
  assert.equal(await app.count("task-row"), 0);
});
