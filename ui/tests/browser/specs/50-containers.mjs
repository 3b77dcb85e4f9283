// Containers: one container-row per container Gantry made, polled every 3 s.
import assert from "node:assert/strict";
import { test, until } from "../lib.mjs";

test("containers: a row per container with task, role, state, Docker status, CPU and memory; polled every 3 s", async (t) => {
  const app = await t.open();
  const ids = await app.mock((m) => m.ids);
  await app.go("containers");
  const rows = app.id("container-row");
  await until(async () => (await rows.count()) === 6, "six container rows");
  const states = (await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-state")))).sort();
  assert.deepEqual(states, ["created", "exited", "exited", "paused", "running", "running"]);
  const main = rows.filter({ hasText: "redis" }).first();
  const text = await main.innerText();
  assert.match(text, /redis:7\.4-alpine/, "image");
  assert.match(text, /service:redis|redis/, "role");
  assert.match(text, /Up 42 minutes/, "Docker's status");
  const running = await rows.filter({ hasText: "pytorch" }).first().innerText();
  assert.match(running, /train-resnet50/, "the task's name");
  assert.match(running, /\d+(\.\d+)?\s*%/, "CPU %");
  assert.match(running, /GB|GiB/, "memory");
  // The task links to its detail.
  await rows.filter({ hasText: "pytorch" }).first().getByText("train-resnet50").first().click();
  await app.id("screen-task-detail").waitFor();
  assert.equal((await app.id("task-detail-name").innerText()).trim(), "train-resnet50");
  assert.equal(await app.id("log-view").getAttribute("data-task-id"), ids.running);
  await app.go("containers");
  await until(async () => (await rows.count()) === 6, "six container rows again");
  const before = (await app.callsOf("containers")).length;
  await new Promise((r) => setTimeout(r, 3500));
  assert.ok((await app.callsOf("containers")).length > before, "containers polled again within 3.5 s");
  await t.shot(app, "containers");
});

test("containers: with none, empty-containers shows", async (t) => {
  const app = await t.open({ query: { tasks: "none" } });
  await app.go("containers");
  await app.id("empty-containers").waitFor();
  assert.equal(await app.count("container-row"), 0);
});
