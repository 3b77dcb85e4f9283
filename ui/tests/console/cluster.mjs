#!/usr/bin/env node
// A browser check of the console's Cluster page over a small fake hub
// (cluster-mockhub.mjs): builds cluster.html (the page as the console mounts it),
// serves it with the console's CSP header, drives it in Debian's Chromium
// through playwright-core, and writes screenshots at 1280x800 and 390x844,
// light and dark. Fails on a broken expectation, a page error or a CSP
// violation. The end-to-end test against the real hub is another file.
//
//   node tests/console/cluster.mjs [SCREENSHOT_DIR]   # default: a temporary folder, printed
//
// Environment: GANTRY_CHROMIUM (default /usr/bin/chromium).

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { emit, makeHub, sampleFor, serveHub } from "./cluster-mockhub.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "gantry-console-cluster-"));
const outDir = join(work, "harness");
const shots = resolve(process.argv[2] ?? join(work, "shots"));
mkdirSync(shots, { recursive: true });

let checks = 0;
function expect(what, ok, detail = "") {
  checks++;
  if (!ok) throw new Error(`expected ${what}${detail ? `: ${detail}` : ""}`);
}

async function until(what, fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const tsc = spawnSync(process.execPath, [join(here, "..", "..", "node_modules", "typescript", "bin", "tsc"), "-p", here], { stdio: "inherit" });
if (tsc.status !== 0) throw new Error("the harness does not type-check (tsc -p tests/console)");
const { build } = await import("vite");
await build({ configFile: join(here, "cluster-vite.config.ts"), logLevel: "warn", build: { outDir, emptyOutDir: true } });

const hub = makeHub();
const { server, url } = await serveHub(outDir, hub);
const { launchChromium } = await import("../chromium.mjs");
const browser = await launchChromium();

async function open({ viewport = { width: 1280, height: 800 }, colorScheme = "light" } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, reducedMotion: "reduce", locale: "en-US" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: url });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/the server responded with a status of (4|5)\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.goto(url + "/");
  await page.waitForFunction(() => window.__mounted === true);
  await page.getByTestId("node-row").first().waitFor();
  return { page, context, problems };
}

const row = (page, name) => page.locator(`[data-testid="node-row"][data-node-name="${name}"]`);
const text = async (loc) => (await loc.textContent())?.replace(/\s+/g, " ").trim() ?? "";

let failed = false;
try {
  // ---- the list, at 1280x800, light ----
  {
    const { page, context, problems } = await open();
    expect("five nodes", (await page.getByTestId("node-row").count()) === 5);
    const a100 = row(page, "gpu-a100-01");
    expect("the online node's state", (await a100.getAttribute("data-state")) === "online" && (await text(a100.getByTestId("node-state"))) === "Online");
    expect("its id", (await a100.getAttribute("data-node-id")) === "n-7f3a");
    expect("its version", (await text(a100.getByTestId("node-version"))) === "0.9.0");
    expect("its last heartbeat, relative, exact in the title", (await text(a100.getByTestId("node-last-seen"))) === "just now" && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test((await a100.getByTestId("node-last-seen").getAttribute("title")) ?? ""));
    const labels = a100.getByTestId("node-labels").locator("li");
    expect("given and agent labels told apart", (await labels.count()) === 3 && (await labels.nth(2).getAttribute("data-given")) === "false" && (await labels.nth(0).getAttribute("data-given")) === "true");
    const tasks = a100.getByTestId("node-task");
    expect("its tasks as links", (await tasks.count()) === 2 && (await tasks.first().getAttribute("href")) === "#/tasks/t-0001" && (await tasks.first().getAttribute("data-task-id")) === "t-0001");
    expect("a chart per GPU", (await a100.getByTestId("node-gpu-chart").count()) === 2 && (await a100.getByTestId("node-gpu-chart").nth(1).getAttribute("data-gpu-index")) === "1");
    for (const id of ["node-cpu-chart", "node-memory-chart", "node-disk-chart"]) {
      await until(`${id} drawn`, () => a100.getByTestId(id).locator("canvas").count());
    }
    expect("no no-GPU note on a GPU node", (await a100.getByTestId("node-no-gpu").count()) === 0);
    const cpu = row(page, "cpu-worker-02");
    expect("draining", (await text(cpu.getByTestId("node-state"))) === "Draining");
    expect("a node that takes only labeled tasks says so", (await cpu.getByTestId("node-only-labeled").count()) === 1 && (await a100.getByTestId("node-only-labeled").count()) === 0);
    expect("no GPU, as the desktop says it", (await text(cpu.getByTestId("node-no-gpu"))).includes("No NVIDIA GPU was found on this node."));
    expect("a driver error, as the desktop says it", (await text(row(page, "render-box").getByTestId("node-no-gpu"))).includes("The NVIDIA driver did not answer: NVML_ERROR_DRIVER_NOT_LOADED."));
    expect("paused", (await text(row(page, "render-box").getByTestId("node-state"))) === "Paused");
    const old = row(page, "old-laptop");
    expect("offline since when", /^Offline since \d\d:\d\d$/.test(await text(old.getByTestId("node-state"))), await text(old.getByTestId("node-state")));
    expect("its charts stopped, saying since when", (await text(old.getByTestId("node-charts-stopped"))).startsWith("Offline since"));
    expect("no driver", (await text(old.getByTestId("node-no-gpu"))).includes("No NVIDIA driver is installed"));
    const desk = row(page, "workstation-4090");
    expect("yielding", (await desk.getAttribute("data-state")) === "yielding" && (await text(desk.getByTestId("node-state"))) === "Yielding");
    expect("the yield's tone", ((await desk.getByTestId("node-state").getAttribute("class")) ?? "").includes("tone-violet"));
    expect("why it yields", (await text(desk.getByTestId("node-yield-reason"))) === "Steps aside for its person: blender uses the GPU");
    expect("no reason on a node that does not yield", (await a100.getByTestId("node-yield-reason").count()) === 0);
    expect("the GPUs it can give", (await text(desk.getByTestId("node-gpus-free"))) === "1 of 2 GPUs free");
    const rooms = await desk.getByTestId("node-gpu-room").allTextContents();
    expect("each GPU's room", rooms.join("|") === "kept by its person|free", rooms.join("|"));
    expect("no GPU count where the agent does not say", (await a100.getByTestId("node-gpus-free").count()) === 0);
    const metricsCalls = hub.calls.filter((c) => c.path.endsWith("/metrics")).length;
    expect("the history loaded once per node shown", metricsCalls >= 1 && metricsCalls <= 5, String(metricsCalls));
    await page.screenshot({ path: join(shots, "cluster-1280-light.png"), fullPage: true });

    // A live sample moves the node's charts.
    const live = sampleFor(hub.nodes[0], Date.now(), 1);
    live.cpu_percent = 77;
    emit(hub, "sample", { node: "n-7f3a", sample: live });
    await until("the live sample's CPU", async () => (await text(a100.getByTestId("node-cpu-chart"))).includes("77%"));
    checks++;

    // A heartbeat seen as a sample event updates the node's last heartbeat without reading the list.
    expect("an old heartbeat first", (await text(old.getByTestId("node-last-seen"))) === "47 min ago");
    emit(hub, "sample", { node: "n-9e04", sample: sampleFor(hub.nodes[3], Date.now(), 2) });
    await until("the heartbeat's time", async () => (await text(old.getByTestId("node-last-seen"))) === "just now");

    // A burst of node events reads the list once.
    const before = hub.calls.filter((c) => c.method === "GET" && c.path === "/v1/nodes").length;
    hub.nodes[1].state = "offline";
    hub.nodes[1].online = false;
    hub.nodes[1].last_seen = Date.now() - 120_000;
    for (let i = 0; i < 5; i++) emit(hub, "nodes", {});
    await until("the node gone offline", async () => (await cpu.getAttribute("data-state")) === "offline");
    await new Promise((r) => setTimeout(r, 500));
    const after = hub.calls.filter((c) => c.method === "GET" && c.path === "/v1/nodes").length;
    expect("one read for a burst of events", after - before === 1, String(after - before));
    // The yield ends: the next read of the list says online, and the reason goes.
    Object.assign(hub.nodes[4], { state: "online", yield_reason: null });
    emit(hub, "nodes", {});
    await until("the yield ended", async () => (await desk.getAttribute("data-state")) === "online");
    expect("its reason gone", (await desk.getByTestId("node-yield-reason").count()) === 0);
    expect("no problems", problems.length === 0, problems.join("\n"));
    await context.close();
  }

  // ---- add a node ----
  {
    const { page, context, problems } = await open();
    await page.getByTestId("add-node").click();
    await page.getByTestId("add-node-name").waitFor();
    expect("the name field focused", await page.getByTestId("add-node-name").evaluate((e) => e === document.activeElement));
    await page.getByTestId("add-node-submit").click();
    expect("the hub's sentence for an empty name", (await text(page.getByTestId("add-node-error"))).startsWith("a node name cannot be empty"));
    await page.getByTestId("add-node-name").fill("gpu-a100-01");
    await page.getByTestId("add-node-submit").click();
    await until("the taken-name sentence", async () => (await text(page.getByTestId("add-node-error"))).includes("exists already"));
    await page.getByTestId("add-node-name").fill("new-box");
    await page.getByTestId("add-node-labels").fill("gpu, h100 zone-b");
    await page.getByTestId("add-node-submit").click();
    await page.getByTestId("add-node-token").waitFor();
    const add = hub.calls.findLast((c) => c.method === "POST" && c.path === "/v1/nodes");
    expect("the labels sent as a list", JSON.stringify(add.body) === JSON.stringify({ name: "new-box", labels: ["gpu", "h100", "zone-b"] }), JSON.stringify(add.body));
    expect("the CSRF header on changes", add.csrf === "csrf-123");
    expect("the token shown", (await text(page.getByTestId("add-node-token"))) === "gnt_n0de-T0ken_for-test");
    expect("the exact agent line", (await page.getByTestId("add-node-command").textContent()) === `gantry agent start --server ${url} --token gnt_n0de-T0ken_for-test`, await page.getByTestId("add-node-command").textContent());
    const wizard = await text(page.getByTestId("add-node-wizard"));
    expect("the wizard's steps", wizard.includes("Install the Gantry desktop app") && wizard.includes(url) && wizard.includes("Node token"));
    await page.getByRole("button", { name: "Copy the agent command" }).click();
    expect("the line copied", (await page.evaluate(() => navigator.clipboard.readText())) === `gantry agent start --server ${url} --token gnt_n0de-T0ken_for-test`);
    await until("the new node listed", () => row(page, "new-box").count());
    await until("a node never connected says so, with no empty charts", async () =>
      (await text(row(page, "new-box").getByTestId("node-no-figures"))).startsWith("It has not connected yet"),
    );
    expect("no charts for it", (await row(page, "new-box").getByTestId("node-cpu-chart").count()) === 0);
    await page.screenshot({ path: join(shots, "cluster-add-node-1280-light.png") });
    await page.getByTestId("add-node-done").click();
    await until("the dialog closed", async () => (await page.getByTestId("add-node-dialog").count()) === 0);
    expect("the token gone from the page", !(await page.content()).includes("gnt_n0de"));
    // Escape closes the dialog too.
    await page.getByTestId("add-node").click();
    await page.getByTestId("add-node-name").waitFor();
    await page.keyboard.press("Escape");
    await until("Escape closes", async () => (await page.getByTestId("add-node-dialog").count()) === 0);
    expect("no problems", problems.length === 0, problems.join("\n"));
    await context.close();
  }

  // ---- rename, relabel, rotate, remove ----
  {
    const { page, context, problems } = await open();
    const a100 = row(page, "gpu-a100-01");
    // Rename from the keyboard.
    await a100.getByTestId("node-rename").focus();
    await page.keyboard.press("Enter");
    await a100.getByTestId("node-rename-input").fill("gpu-a100-main");
    await page.keyboard.press("Enter");
    const main = row(page, "gpu-a100-main");
    await until("the renamed node", () => main.count());
    const rename = hub.calls.findLast((c) => c.method === "PATCH");
    expect("the rename sent by id", rename.path === "/v1/nodes/n-7f3a" && JSON.stringify(rename.body) === '{"name":"gpu-a100-main"}', JSON.stringify(rename));
    // A refused change shows the hub's sentence.
    hub.refusals.push({ method: "PATCH", path: "/v1/nodes/", status: 409, code: "conflict", message: 'a node named "cpu-worker-02" exists already; pick another name' });
    await main.getByTestId("node-rename").click();
    await main.getByTestId("node-rename-input").fill("cpu-worker-02");
    await main.getByTestId("node-rename-save").click();
    await until("the refusal's sentence", async () => (await text(main.getByTestId("node-error"))).includes("exists already"));
    await main.getByTestId("node-rename-input").press("Escape");
    // Relabel.
    await main.getByTestId("node-labels-edit").click();
    expect("the field starts with the given labels", (await main.getByTestId("node-labels-input").inputValue()) === "a100, gpu");
    await main.getByTestId("node-labels-input").fill("gpu h100, zone-b");
    await main.getByTestId("node-labels-save").click();
    await until("the labels saved", async () => (await main.getByTestId("node-labels-input").count()) === 0);
    const relabel = hub.calls.findLast((c) => c.method === "PATCH");
    expect("add and remove computed", JSON.stringify(relabel.body) === JSON.stringify({ add_labels: ["h100", "zone-b"], remove_labels: ["a100"] }), JSON.stringify(relabel.body));
    // Rotate.
    await main.getByTestId("node-rotate").click();
    expect("the rotation explained", (await text(page.getByTestId("confirm-rotate"))).includes("stops until it is started with the new token"));
    await page.getByTestId("confirm-rotate-yes").click();
    await page.getByTestId("node-token").waitFor();
    expect("the new token and line", (await page.getByTestId("node-token-command").textContent()) === `gantry agent start --server ${url} --token gnt_r0tated-T0ken`);
    await page.screenshot({ path: join(shots, "cluster-rotate-1280-light.png") });
    await page.getByTestId("node-token-done").click();
    // Remove: no, then yes.
    await main.getByTestId("node-remove").click();
    const confirm = await text(page.getByTestId("confirm-remove"));
    expect("the removal names its tasks", confirm.includes("The 2 tasks it holds are canceled: train-resnet50 (running), eval-sweep (pulling).") && confirm.includes("fail") && confirm.includes("token stops working"), confirm);
    await page.screenshot({ path: join(shots, "cluster-remove-1280-light.png") });
    await page.getByTestId("confirm-remove-no").click();
    expect("kept", (await main.count()) === 1 && !hub.calls.some((c) => c.method === "DELETE"));
    await main.getByTestId("node-remove").click();
    await page.getByTestId("confirm-remove-yes").click();
    await until("the node gone", async () => (await main.count()) === 0);
    const report = await text(page.getByTestId("node-removed"));
    expect("the hub's report", report.includes("Removed gpu-a100-main.") && report.includes("t-0100") && report.includes("t-0001") && report.includes("t-0002"), report);
    expect("no problems", problems.length === 0, problems.join("\n"));
    await context.close();
  }

  // ---- screenshots: 1280 dark, phone light and dark ----
  for (const [name, viewport, colorScheme] of [
    ["cluster-1280-dark", { width: 1280, height: 800 }, "dark"],
    ["cluster-390-light", { width: 390, height: 844 }, "light"],
    ["cluster-390-dark", { width: 390, height: 844 }, "dark"],
  ]) {
    const { page, context, problems } = await open({ viewport, colorScheme });
    await until("charts drawn", () => page.getByTestId("node-cpu-chart").first().locator("canvas").count());
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(`no sideways scroll at ${viewport.width} px`, wide <= viewport.width, `${wide} px wide`);
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: viewport.width > 400 });
    if (viewport.width < 400) {
      await page.getByTestId("add-node").click();
      await page.getByTestId("add-node-name").fill(`phone-${colorScheme}`);
      await page.getByTestId("add-node-submit").click();
      await page.getByTestId("add-node-token").waitFor();
      await page.screenshot({ path: join(shots, `${name}-add-node.png`) });
    }
    expect("no problems", problems.length === 0, problems.join("\n"));
    await context.close();
  }
  console.log(`cluster page: ${checks} checks passed; screenshots in ${shots}`);
} catch (e) {
  failed = true;
  console.error(`cluster page: FAILED after ${checks} checks\n  ${e.stack ?? e}`);
} finally {
  await browser.close();
  for (const s of hub.streams) s.end();
  server.closeAllConnections();
  server.close();
  rmSync(outDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
