// Settings' Updates section: the update server (saved, refused, locked),
// "Check now", the version found with its notes, "Install and restart" with
// the download's progress, a failed signature, and a build with no key.
import assert from "node:assert/strict";
import { setField, test, until } from "../lib.mjs";

async function openUpdates(t, update, options = {}) {
  const app = await t.open({ query: { update }, ...options });
  await app.go("settings");
  await app.id("settings-updates").waitFor();
  await until(async () => /Gantry 0\.1\.0/.test(await app.id("update-version").innerText()), "update-version");
  return app;
}

test("updates: up to date; Check now asks again; a new server is saved, an insecure one refused", async (t) => {
  const app = await openUpdates(t, "current");
  assert.match(await app.id("settings-update-endpoint").inputValue(), /^https:\/\/updates\.gantry\.example\.org\/\{\{target\}\}/);
  assert.match(await app.id("update-status").innerText(), /Gantry 0\.1\.0 is up to date \(checked /);
  assert.equal(await app.count("update-available"), 0);
  assert.equal(await app.count("update-no-key"), 0);

  await app.id("update-check").click();
  await until(async () => (await app.callsOf("check_update")).length === 1, "check_update");
  await until(async () => /up to date/.test(await app.id("update-status").innerText()), "up to date again");

  // Plain http to another computer: the backend's sentence, and nothing kept.
  const save = app.id("settings-update-save");
  assert.equal(await save.isDisabled(), true, "nothing to save yet");
  await setField(app.id("settings-update-endpoint"), "http://updates.example.com/latest.json");
  await save.click();
  await app.id("update-endpoint-error").waitFor();
  assert.match(await app.id("update-endpoint-error").innerText(), /must start with https:\/\//);

  // An https server: saved as typed, and asked at once.
  await setField(app.id("settings-update-endpoint"), "  https://mirror.lab.example.org/gantry/latest.json ");
  await save.click();
  await until(async () => (await app.callsOf("set_update_endpoint")).length === 2, "set_update_endpoint");
  assert.deepEqual((await app.callsOf("set_update_endpoint"))[1].args, { endpoint: "https://mirror.lab.example.org/gantry/latest.json" });
  await until(async () => (await app.count("update-endpoint-error")) === 0, "the error goes");
  await until(async () => /up to date/.test(await app.id("update-status").innerText()), "checked the new server");
  assert.equal(await save.isDisabled(), true, "saved");

  // Emptied: updates are off, and Check now cannot ask.
  await setField(app.id("settings-update-endpoint"), "");
  await save.click();
  await until(async () => /Updates are off/.test(await app.id("update-status").innerText()), "updates off");
  assert.deepEqual((await app.callsOf("set_update_endpoint"))[2].args, { endpoint: "" });
  assert.equal(await app.id("update-check").isDisabled(), true);
});

test("updates: the version found, its notes, and Install and restart with the download's progress", async (t) => {
  const app = await openUpdates(t, "available");
  await app.id("update-available").waitFor();
  assert.match(await app.id("update-available-version").innerText(), /Gantry 0\.2\.0 is available/);
  const notes = await app.id("update-notes").innerText();
  assert.match(notes, /Pause a single GPU from the tray\.\nLogs:/, "the notes keep their lines");
  await app.id("settings-updates").scrollIntoViewIfNeeded();
  await t.shot(app, "settings-updates");

  await app.id("update-install").click();
  await until(async () => (await app.callsOf("install_update")).length === 1, "install_update");
  assert.deepEqual((await app.callsOf("install_update"))[0].args, { onProgress: "[channel]" });
  await app.id("update-progress").waitFor();
  // Bytes of the total while it downloads, with a bar that fills.
  const seen = await until(async () => {
    const text = await app.id("update-progress-text").innerText();
    return /^Downloading: \d+(\.\d)? MB of 84\.2 MB$/.test(text) && text;
  }, "download progress");
  assert.ok(seen);
  const value = await until(async () => {
    const v = await app.id("update-progress").locator("progress").evaluate((el) => el.value);
    return v > 0 && v < 1 && v;
  }, "a partly filled bar");
  assert.ok(value > 0);
  assert.equal(await app.id("update-install").isDisabled(), true, "one install at a time");
  assert.equal(await app.id("update-check").isDisabled(), true);
  await until(async () => /restarts/.test(await app.id("update-progress-text").innerText()), "restarting", 8000);
  assert.equal(await app.count("update-install-error"), 0);
});

test("updates: a download that fails its signature check is said, and nothing is installed", async (t) => {
  const app = await openUpdates(t, "badsig");
  await app.id("update-install").click();
  await app.id("update-install-error").waitFor({ timeout: 8000 });
  assert.match(await app.id("update-install-error").innerText(), /not signed with Gantry's update key, so it was not installed/);
  assert.equal(await app.count("update-progress"), 0, "the progress goes");
  assert.equal(await app.id("update-install").isDisabled(), false, "it may be tried again");
});

test("updates: a failed check is said in a sentence", async (t) => {
  const app = await openUpdates(t, "unreachable");
  // The schedule's last check failed: said at once.
  assert.match(await app.id("update-error").innerText(), /cannot be reached/);
  await app.id("update-check").click();
  await until(async () => (await app.callsOf("check_update")).length === 1, "check_update");
  await until(async () => /The last check failed/.test(await app.id("update-status").innerText()), "the status says so");
  assert.match(await app.id("update-error").innerText(), /The update server cannot be reached \(.+\); check the network/);
});

test("updates: a build with no key says so; a server set by the environment is read-only", async (t) => {
  const app = await openUpdates(t, "nokey");
  assert.match(await app.id("update-no-key").innerText(), /This build has no update key/);
  assert.equal(await app.id("update-check").isDisabled(), true, "no checks without a key");

  const locked = await openUpdates(t, "locked");
  const field = locked.id("settings-update-endpoint");
  assert.equal(await field.inputValue(), "https://mirror.lab.example.org/gantry/latest.json");
  assert.ok(!(await field.isEditable()), "read-only");
  assert.match(await locked.id("settings-updates").innerText(), /Set by GANTRY_UPDATE_ENDPOINT/);
  assert.equal(await locked.id("settings-update-save").isDisabled(), true);
  assert.equal(await locked.id("update-check").isDisabled(), false, "checks still work");
});
