#!/usr/bin/env node
// The `gantry drive` monitor page in Debian's Chromium (playwright-core),
// against a running driver: rows appear and change state live, each links
// to the hub console's task page, and the alert shows once the driver stops.
// crates/testkit/tests/drive_monitor.rs starts the hub, agent and driver and
// runs this file.
//
// Environment: GANTRY_DRIVE_MONITOR (the page, http://HOST:PORT),
// GANTRY_HUB_URL (the hub, for the links), GANTRY_DRIVE_DIR (the user code's
// folder: this script creates `more` there to let it make its second job),
// GANTRY_CHROMIUM (the browser).
//
// Every step prints one line; the first failure stops it with exit 1.

import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { launchChromium } from "../chromium.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
};
const monitor = env("GANTRY_DRIVE_MONITOR");
const hub = env("GANTRY_HUB_URL").replace(/\/$/, "");
const dir = env("GANTRY_DRIVE_DIR");

const started = Date.now();
const step = (text) => console.log(`drive monitor: ${((Date.now() - started) / 1000).toFixed(1)}s ${text}`);

const states = (page) => page.$$eval("#jobs tr", (rows) => rows.map((r) => r.querySelector("td.state")?.textContent));

const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(monitor);
  step("page loaded");
  await page.waitForFunction(() => document.querySelectorAll("#jobs tr").length === 1, null, { timeout: 60_000 });
  step(`one row: ${await states(page)}`);
  const link = await page.$eval("#jobs tr a", (a) => ({ href: a.href, text: a.textContent }));
  if (link.href !== `${hub}/#/tasks/${encodeURIComponent(link.text)}`) {
    throw new Error(`the row links to ${link.href}, not the console's task page`);
  }
  // The first job runs for a few seconds: the page shows it running without a reload.
  await page.waitForFunction(
    () => document.querySelector("#jobs tr td.state")?.textContent === "running",
    null,
    { timeout: 60_000 },
  );
  step("the row says running");
  if (await page.isVisible("#alert")) throw new Error("the alert shows while the driver runs");
  writeFileSync(join(dir, "more"), "");
  await page.waitForFunction(() => document.querySelectorAll("#jobs tr").length === 2, null, { timeout: 60_000 });
  step(`a second row appeared: ${await states(page)}`);
  await page.waitForFunction(
    () => [...document.querySelectorAll("#jobs tr td.state")].every((td) => td.textContent === "succeeded"),
    null,
    { timeout: 90_000 },
  );
  step("both rows say succeeded");
  // The driver ends by itself now; the page says it went away.
  await page.waitForSelector("#alert.shown", { timeout: 60_000 });
  const alert = await page.textContent("#alert");
  if (!/driver has stopped/.test(alert)) throw new Error(`the alert says ${alert}`);
  if ((await page.getAttribute("#alert", "role")) !== "alert") throw new Error("the alert has no role=alert");
  step(`alert: ${alert}`);
} finally {
  await browser.close();
}
