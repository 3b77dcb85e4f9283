// The harness itself: the App mounts over the mock backend, which answers
// through commands, channels and events.
import assert from "node:assert/strict";
import { test, until } from "../lib.mjs";

test("harness: the app mounts over the mock backend; status arrives through the watch_status channel", async (t) => {
  const app = await t.open({ waitFor: "status-connection" });
  await until(async () => (await app.id("status-connection").textContent())?.trim() === "connected", "status-connection to say connected");
  const cmds = await app.mock((m) => m.calls.map((c) => c.cmd));
  assert.ok(cmds.includes("setup_state"), `setup_state was not invoked: ${cmds}`);
  assert.ok(cmds.includes("watch_status"), `watch_status was not invoked: ${cmds}`);
  const local = await t.open({ query: { mode: "local" }, waitFor: "status-connection" });
  await until(async () => (await local.id("status-connection").textContent())?.trim() === "local", "status-connection to say local");
});

test("harness: with navigator.language \"C\" (WebKitGTK under LANG=C) the app still loads and draws its charts", async (t) => {
  const app = await t.open({
    init: `Object.defineProperty(Navigator.prototype, "language", { get: () => "C", configurable: true });
           Object.defineProperty(Navigator.prototype, "languages", { get: () => ["C"], configurable: true });`,
  });
  await until(async () => (await app.id("gpu-card").locator("canvas").count()) >= 2, "the GPU charts");
  await until(async () => (await app.id("host-cpu").locator("canvas").count()) >= 1, "the CPU chart");
});
