// Settings' "When to step aside": every rule and the GPUs kept for the
// person are sent in one save, a bad quiet-hours spec says what to fix, and
// the Overview says why work stepped aside.
import assert from "node:assert/strict";
import { setField, test, until } from "../lib.mjs";

test("step aside: every rule and a kept GPU are saved; a bad spec is said; the Overview says why", async (t) => {
  const app = await t.open();
  await app.go("settings");
  // Filled from node_settings: the agent's grace and settle.
  await until(async () => (await app.id("settings-yield-grace").inputValue()) === "10", "settings-yield-grace filled");
  assert.equal(await app.id("settings-settle").inputValue(), "60");
  assert.equal(await app.id("settings-yield-active-minutes").inputValue(), "", "off until set");
  // The GPUs come from the metrics' list.
  await until(async () => (await app.count("settings-reserve-gpu-1")) === 1, "a box for GPU 1");
  assert.equal(await app.id("settings-reserve-gpu-0").isChecked(), false);

  await setField(app.id("settings-yield-active-minutes"), "5");
  await setField(app.id("settings-yield-battery"), true);
  await setField(app.id("settings-quiet-hours"), "mon-fri 09:00-18:00\nsat,sun 22:00-07:00\n");
  await setField(app.id("settings-exclusive-apps"), "blender\n steam \n");
  assert.equal(await app.id("settings-yield-gpu-programs").isChecked(), true, "on until turned off");
  await setField(app.id("settings-yield-gpu-programs"), false);
  await setField(app.id("settings-yield-temp"), "85");
  await setField(app.id("settings-yield-action"), "release");
  await setField(app.id("settings-yield-grace"), "20");
  await setField(app.id("settings-settle"), "30");
  await setField(app.id("settings-reserve-gpu-0"), true);
  await app.id("settings-step-aside").evaluate((e) => e.scrollIntoView({ block: "start" }));
  await t.shot(app, "settings-step-aside");
  await app.id("settings-yield-save").click();
  await until(async () => (await app.callsOf("save_step_aside")).length === 1, "save_step_aside");
  assert.deepEqual((await app.callsOf("save_step_aside"))[0].args, {
    rules: {
      yield_when_active: 5,
      yield_on_battery: true,
      quiet_hours: ["mon-fri 09:00-18:00", "sat,sun 22:00-07:00"],
      exclusive_app: ["blender", "steam"],
      ignore_gpu_programs: true,
      yield_above_temp: 85,
      yield_action: "release",
      yield_grace: 20,
      settle: 30,
      reserve_gpu: [0],
      notify: false,
    },
  });
  await app.id("settings-yield-saved").waitFor();

  // A spec the agent cannot read is said, with how to write it.
  await setField(app.id("settings-quiet-hours"), "weekdays 9 to 5");
  await app.id("settings-yield-save").click();
  await app.id("settings-yield-error").waitFor();
  assert.match(await app.id("settings-yield-error").innerText(), /"weekdays 9 to 5": write the days, a space and the hours, e\.g\. mon-fri 09:00-18:00/);

  // Always-quiet hours: the agent steps aside, and the Overview says why.
  await setField(app.id("settings-quiet-hours"), "mon-sun 00:00-24:00");
  await app.id("settings-yield-save").click();
  await app.id("settings-yield-saved").waitFor();
  await app.go("overview");
  await until(async () => (await app.count("overview-yield-reason")) === 1, "overview-yield-reason");
  assert.equal(await app.id("overview-yield-reason").innerText(), "Paused for quiet hours");
});
