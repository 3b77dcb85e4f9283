// Settings' save bars (SaveBar): the disk budget and the image policy send
// what was typed, say "saved", and show a refusal's sentence in its place;
// the sections' shared look (app.css) holds: the two-column grid, one
// column on a narrow window, the green "saved" line.
import assert from "node:assert/strict";
import { setField, test, until } from "../lib.mjs";

/** The computed colour `cssColor` (e.g. "var(--green-fg)") resolves to in the page. */
function resolved(app, cssColor) {
  return app.page.evaluate((c) => {
    const probe = document.createElement("span");
    probe.style.color = c;
    document.body.append(probe);
    const color = getComputedStyle(probe).color;
    probe.remove();
    return color;
  }, cssColor);
}

/** The number of columns of the disk form's grid. */
const columns = (app) =>
  app
    .id("settings-disk")
    .locator(".grid")
    .evaluate((e) => getComputedStyle(e).gridTemplateColumns.split(" ").length);

test("save bars: disk budget and image policy say saved, a refusal in words; the sections' look holds", async (t) => {
  const app = await t.open();
  await app.go("settings");
  await until(async () => (await app.id("settings-disk-max-percent").inputValue()) === "50", "the disk form filled");

  await setField(app.id("settings-disk-max-gb"), "7.5");
  await app.id("settings-disk-save").click();
  await until(async () => (await app.callsOf("save_disk_settings")).length === 1, "save_disk_settings");
  assert.deepEqual((await app.callsOf("save_disk_settings"))[0].args, {
    settings: { disk_max_gb: 7.5, disk_max_percent: 50, disk_min_free_gb: 10, disk_evict_unsynced_results: false },
  });
  const saved = app.id("settings-disk-saved");
  await saved.waitFor();
  assert.match(await saved.innerText(), /The agent restarted with it/);
  assert.equal(await saved.evaluate((e) => getComputedStyle(e).color), await resolved(app, "var(--green-fg)"), "saved is green");
  assert.equal(await app.id("settings-disk-save").isDisabled(), false, "the button is back");
  assert.equal(await columns(app), 2, "label and field side by side");

  await app.mock((m) => m.failNext("save_disk_settings", "\"At most … % of the disk\" is at most 100"));
  await app.id("settings-disk-save").click();
  await app.id("settings-disk-error").waitFor();
  assert.match(await app.id("settings-disk-error").innerText(), /is at most 100/);
  assert.equal(await app.count("settings-disk-saved"), 0, "the error stands in for saved");

  // The image policy's bar: the patterns sent one a line, then saved.
  await setField(app.id("settings-images-only"), true);
  await setField(app.id("settings-allowed-images"), "registry.example.com/**\n nvidia/* \n");
  await app.id("settings-images-save").click();
  await until(async () => (await app.callsOf("save_image_policy")).length === 1, "save_image_policy");
  assert.deepEqual((await app.callsOf("save_image_policy"))[0].args, {
    choice: { rule: "only", patterns: ["registry.example.com/**", "nvidia/*"] },
  });
  await app.id("settings-images-saved").waitFor();
  await app.mock((m) => m.failNext("save_image_policy", "Give at least one pattern, e.g. registry.example.com/** or nvidia/*"));
  await app.id("settings-images-save").click();
  await app.id("settings-images-error").waitFor();
  assert.match(await app.id("settings-images-error").innerText(), /at least one pattern/);

  // A narrow window: one column.
  await app.page.setViewportSize({ width: 520, height: 720 });
  await until(async () => (await columns(app)) === 1, "one column on a narrow window");
});
