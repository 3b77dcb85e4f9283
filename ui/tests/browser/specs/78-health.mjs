// Settings → Health: gantry doctor's checks, one row per check with its
// status and fix, a summary, and "Check again".
import assert from "node:assert/strict";
import { test, until } from "../lib.mjs";

test("health: a row per check with its status and fix; Check again asks anew", async (t) => {
  const app = await t.open();
  await app.go("settings");
  await app.id("health").waitFor();
  await until(async () => (await app.count("health-docker")) === 1, "the checks");
  assert.equal(await app.count("health-keychain"), 1);
  assert.equal(await app.count("health-control-socket"), 1);
  assert.match(await app.id("health-summary").innerText(), /1 with a warning of 12 checks/);

  const clock = app.id("health-clock");
  assert.equal(await clock.getAttribute("data-status"), "warning");
  assert.equal(await clock.getAttribute("data-ok"), "false");
  assert.match(await clock.innerText(), /42 s behind the hub's/);
  assert.match(await clock.innerText(), /timedatectl set-ntp true/);
  assert.equal(await app.id("health-docker").getAttribute("data-status"), "ok");

  await app.id("health-check").click();
  await until(async () => (await app.callsOf("health")).length === 2, "health asked again");
  await t.shot(app, "settings-health");
});

test("health: the wizard shows the same checks under All checks", async (t) => {
  const app = await t.open({ query: { setup: "removed" }, waitFor: "wizard-server" });
  await app.id("wizard-health").waitFor();
  await app.page.locator("[data-testid=wizard-health] summary").click();
  await until(async () => (await app.count("health-docker")) === 1, "the checks in the wizard");
  assert.equal(await app.id("health-clock").getAttribute("data-status"), "warning");
});
