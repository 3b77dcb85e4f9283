// Overview: per-GPU cards with live charts, the host's CPU, memory and disk,
// the agent's state and what runs now; the no-GPU card instead of empty charts.
import assert from "node:assert/strict";
import { test, until } from "../lib.mjs";

test("overview: two gpu-cards with a chart each, host cpu/memory/disk, agent state, running now", async (t) => {
  const app = await t.open();
  const cards = app.id("gpu-card");
  await until(async () => (await cards.count()) === 2, "two gpu-card elements");
  assert.deepEqual(await cards.evaluateAll((els) => els.map((e) => e.getAttribute("data-gpu-index"))), ["0", "1"]);
  for (let i = 0; i < 2; i++) {
    const card = cards.nth(i);
    assert.match(await card.innerText(), /RTX 4090/, "the card names the GPU");
    assert.match(await card.innerText(), /°C|° C|℃/, "the card shows the temperature");
    await until(async () => (await card.locator("canvas").count()) >= 1, `a canvas in gpu-card ${i}`);
    const box = await card.locator("canvas").first().boundingBox();
    assert.ok(box && box.width > 40 && box.height > 20, `gpu-card ${i}'s chart has a size: ${JSON.stringify(box)}`);
  }
  assert.equal(await app.count("no-gpu-card"), 0, "no no-gpu-card with GPUs present");
  for (const id of ["host-cpu", "host-memory", "host-disk"]) {
    await app.id(id).waitFor();
    assert.ok(await app.id(id).isVisible(), `${id} is visible`);
  }
  await until(async () => (await app.id("host-cpu").locator("canvas").count()) >= 1, "a chart in host-cpu");
  assert.match(await app.id("host-memory").innerText(), /GB|GiB/, "host-memory shows used/total");
  assert.match(await app.id("host-disk").innerText(), /TB|TiB|GB|GiB/, "host-disk shows the disk");
  assert.match(await app.id("agent-state").innerText(), /connected/i, "agent-state says connected");
  await until(async () => /train-resnet50/.test(await app.id("running-now").innerText()), "running-now to list train-resnet50");
  assert.match(await app.id("gpu-percent").innerText(), /\d+\s*%/, "the header's gpu-percent");
  // The charts move: watch_metrics was invoked and keeps its channel.
  assert.equal((await app.callsOf("watch_metrics")).length >= 1, true, "watch_metrics invoked");
  await t.shot(app, "overview");

  const dark = await t.open({ colorScheme: "dark" });
  await until(async () => (await dark.id("gpu-card").locator("canvas").count()) >= 2, "charts in the dark overview");
  await t.shot(dark, "overview-dark");
});

test("overview: without a GPU the no-gpu-card says why and no gpu-card shows", async (t) => {
  const app = await t.open({ query: { gpu: "none" } });
  await app.id("no-gpu-card").waitFor();
  assert.match(await app.id("no-gpu-card").innerText(), /driver/i, "no-gpu-card names the missing driver");
  assert.equal(await app.count("gpu-card"), 0, "no gpu-card without GPUs");
  assert.equal(await app.id("no-gpu-card").locator("canvas").count(), 0, "no empty chart in no-gpu-card");
  for (const id of ["host-cpu", "host-memory", "host-disk"]) await app.id(id).waitFor();
  await t.shot(app, "overview-no-gpu");

  const nvml = await t.open({ query: { gpu: "error" } });
  await nvml.id("no-gpu-card").waitFor();
  assert.match(await nvml.id("no-gpu-card").innerText(), /version mismatch/, "no-gpu-card shows NVML's message");
  assert.equal(await nvml.count("gpu-card"), 0);
});

test("header: pause-all pauses (pause_all invoked, paused-note, resume-all) and resume-all resumes", async (t) => {
  const app = await t.open();
  await app.id("pause-all").click();
  await app.id("resume-all").waitFor();
  await app.id("paused-note").waitFor();
  assert.equal((await app.callsOf("pause_all")).length, 1);
  await app.id("resume-all").click();
  await app.id("pause-all").waitFor();
  assert.equal((await app.callsOf("resume_all")).length, 1);
});
