// New task (local mode only): the form's fields become submit_task's NewTask;
// success opens the task; an error shows; a job file.
import assert from "node:assert/strict";
import { setField, test, until } from "../lib.mjs";

test("new task: only in local mode; the form sends submit_task with the parsed fields and opens the task", async (t) => {
  const remote = await t.open();
  await remote.id("nav-tasks").waitFor();
  assert.equal(await remote.count("nav-new-task"), 0, "no New task in remote mode");

  const app = await t.open({ query: { mode: "local" } });
  await app.go("new-task");
  await setField(app.id("new-task-name"), "hello-cuda");
  await setField(app.id("new-task-image"), "nvidia/cuda:12.4.1-base-ubuntu22.04");
  await setField(app.id("new-task-command"), `bash -c "nvidia-smi && sleep 30"`);
  await setField(app.id("new-task-env"), "NCCL_DEBUG=INFO\nGREETING=hello world\n");
  await setField(app.id("new-task-gpus"), "all");
  await t.shot(app, "new-task");
  await app.id("new-task-submit").click();
  await until(async () => (await app.callsOf("submit_task")).length === 1, "submit_task");
  assert.deepEqual((await app.callsOf("submit_task"))[0].args, {
    task: {
      name: "hello-cuda",
      image: "nvidia/cuda:12.4.1-base-ubuntu22.04",
      command: `bash -c "nvidia-smi && sleep 30"`,
      env: ["NCCL_DEBUG=INFO", "GREETING=hello world"],
      gpus: "all",
    },
  });
  await app.id("screen-task-detail").waitFor();
  await until(async () => (await app.id("task-detail-name").innerText()).trim() === "hello-cuda", "the new task's detail");

  // An error from the backend shows in new-task-error.
  await app.go("new-task");
  await app.mock((m) => m.failNext("submit_task", "Docker cannot pull nvidia/cuda:nope: manifest unknown"));
  await setField(app.id("new-task-image"), "nvidia/cuda:nope");
  await app.id("new-task-submit").click();
  await app.id("new-task-error").waitFor();
  assert.match(await app.id("new-task-error").innerText(), /manifest unknown/);
  assert.equal(await app.count("screen-new-task"), 1, "the form stays after an error");

  // GPUs by index; a malformed env line is refused in the form, before any call.
  const before = (await app.callsOf("submit_task")).length;
  await setField(app.id("new-task-image"), "nvidia/cuda:12.4.1-base-ubuntu22.04");
  await setField(app.id("new-task-env"), "THIS IS NOT AN ASSIGNMENT");
  await app.id("new-task-submit").click();
  await until(async () => /NAME=value|Line 1/i.test(await app.id("new-task-error").innerText()), "new-task-error about the env line");
  assert.equal((await app.callsOf("submit_task")).length, before, "no submit_task with a malformed env line");
  await setField(app.id("new-task-env"), "");
  const gpus = app.id("new-task-gpus");
  if ((await gpus.evaluate((e) => e.tagName)) === "SELECT") {
    await setField(gpus, "indices");
    await setField(app.id("new-task-gpus-value"), "0, 1");
  } else {
    await setField(gpus, "0,1");
  }
  await app.id("new-task-submit").click();
  await until(async () => (await app.callsOf("submit_task")).length === before + 1, "submit_task with GPU indices");
  const sent = (await app.callsOf("submit_task")).at(-1).args.task;
  assert.equal(sent.gpus, "0,1", "indices as 0,1");
  assert.deepEqual(sent.env, [], "no env");
  await app.id("screen-task-detail").waitFor();

  // A job file: the dialog is canceled (null), nothing else happens.
  await app.go("new-task");
  await app.id("run-job-file").click();
  await until(async () => (await app.callsOf("run_job_file")).length === 1, "run_job_file");
  assert.equal(await app.count("screen-new-task"), 1);
});
