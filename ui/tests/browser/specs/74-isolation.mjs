// Settings' "Task isolation": filled from node_settings (the agent's
// defaults), the network choice, allowed ranges, read-only root and pids
// limit sent in one save; a refusal is said in the backend's words; a field
// the environment sets is read-only.
import assert from "node:assert/strict";
import { setField, test, until } from "../lib.mjs";

test("task isolation: the network, allowed ranges, read-only root and pids limit are saved; a refusal is said", async (t) => {
  const app = await t.open();
  await app.go("settings");
  await until(async () => (await app.id("settings-pids-limit").inputValue()) === "4096", "settings-pids-limit filled");
  assert.equal(await app.id("settings-task-network").inputValue(), "full");
  assert.equal(await app.id("settings-read-only-root").isChecked(), false);
  assert.deepEqual(
    await app.id("settings-task-network").evaluate((e) => [...e.options].map((o) => o.value)),
    ["full", "no-private", "none"],
  );
  // Allowed ranges are for no-private only.
  assert.equal(await app.id("settings-task-network-allow").isDisabled(), true);

  await setField(app.id("settings-task-network"), "no-private");
  assert.equal(await app.id("settings-task-network-allow").isDisabled(), false);
  await setField(app.id("settings-task-network-allow"), "192.168.1.53\n 10.0.0.0/8 \n\n");
  await setField(app.id("settings-read-only-root"), true);
  await setField(app.id("settings-pids-limit"), "512");
  await app.id("settings-isolation").evaluate((e) => e.scrollIntoView({ block: "start" }));
  await t.shot(app, "settings-task-isolation");
  await app.id("settings-isolation-save").click();
  await until(async () => (await app.callsOf("save_task_isolation")).length === 1, "save_task_isolation");
  assert.deepEqual((await app.callsOf("save_task_isolation"))[0].args, {
    isolation: {
      task_network: "no-private",
      task_network_allow: ["192.168.1.53", "10.0.0.0/8"],
      read_only_root: true,
      task_pids_limit: 512,
    },
  });
  await app.id("settings-isolation-saved").waitFor();

  // No network and no limit.
  await setField(app.id("settings-task-network-allow"), "");
  await setField(app.id("settings-task-network"), "none");
  await setField(app.id("settings-pids-limit"), "0");
  await app.id("settings-isolation-save").click();
  await until(async () => (await app.callsOf("save_task_isolation")).length === 2, "the second save");
  assert.deepEqual((await app.callsOf("save_task_isolation"))[1].args.isolation, {
    task_network: "none",
    task_network_allow: [],
    read_only_root: true,
    task_pids_limit: 0,
  });
  await app.id("settings-isolation-saved").waitFor();

  // Too few processes: the backend's sentence, in place of saved.
  await setField(app.id("settings-pids-limit"), "3");
  await app.id("settings-isolation-save").click();
  await app.id("settings-isolation-error").waitFor();
  assert.match(await app.id("settings-isolation-error").innerText(), /give 16 or more .*or 0 for no limit/);
  assert.equal(await app.count("settings-isolation-saved"), 0);

  // Not a whole number: said here, nothing sent.
  await setField(app.id("settings-pids-limit"), "");
  const sent = (await app.callsOf("save_task_isolation")).length;
  await app.id("settings-isolation-save").click();
  await until(async () => /whole number/.test(await app.id("settings-isolation-error").innerText()), "the blank limit said");
  assert.equal((await app.callsOf("save_task_isolation")).length, sent, "nothing sent");

  // Opened again, the screen shows what was kept.
  await app.go("overview");
  await app.go("settings");
  await until(async () => (await app.id("settings-task-network").inputValue()) === "none", "the kept network shown");
  assert.equal(await app.id("settings-pids-limit").inputValue(), "0");
  assert.equal(await app.id("settings-read-only-root").isChecked(), true);
});

test("task isolation: set by the environment, the section is read-only and says so", async (t) => {
  const app = await t.open();
  await app.mock((m) => m.lock("hardening"));
  await app.go("settings");
  await until(async () => (await app.id("settings-pids-limit").inputValue()) === "4096", "settings-pids-limit filled");
  for (const id of ["settings-task-network", "settings-read-only-root", "settings-pids-limit", "settings-isolation-save"]) {
    assert.equal(await app.id(id).isDisabled(), true, `${id} is off`);
  }
  assert.equal(await app.id("settings-isolation").locator("[data-field=hardening]").count(), 1, "the locked note");
});
