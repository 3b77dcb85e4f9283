#!/usr/bin/env node
// The console end to end, as an operator does it: Debian's Chromium through
// playwright-core against a real hub (`gantry hub serve`), a real agent
// started with the line the console prints, and the real Docker engine.
// crates/testkit/tests/console.rs starts the hub and runs this file; it can
// also run by hand against any hub:
//
//   GANTRY_HUB_URL=http://127.0.0.1:PORT GANTRY_ADMIN_TOKEN=... GANTRY_BIN=target/debug/gantry \
//   GANTRY_E2E_DIR=/tmp/x GANTRY_E2E_NODE_TOKEN=... node ui/tests/console-e2e/run.mjs
//
// Environment: GANTRY_HUB_URL, GANTRY_ADMIN_TOKEN (the admin's token, typed
// into the sign-in field), GANTRY_E2E_NODE_TOKEN (a node's token, which must
// not sign in), GANTRY_BIN (the `gantry` the printed agent line runs),
// GANTRY_E2E_DIR (a scratch folder: the agent's host dir, downloads),
// GANTRY_TEST_IMAGE (the task image), DOCKER_HOST (passed to the agent),
// GANTRY_CONSOLE_SCREENSHOTS (a folder for each page's screenshot),
// GANTRY_CHROMIUM (the browser).
//
// Every step prints one line; the first failure stops it with exit 1.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

import { launchChromium } from "../chromium.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
};
const hub = env("GANTRY_HUB_URL").replace(/\/$/, "");
const admin = env("GANTRY_ADMIN_TOKEN");
const nodeToken = env("GANTRY_E2E_NODE_TOKEN");
const gantry = env("GANTRY_BIN");
const dir = env("GANTRY_E2E_DIR");
const image = process.env.GANTRY_TEST_IMAGE || "gantry-test/busybox:1";
const shots = process.env.GANTRY_CONSOLE_SCREENSHOTS || null;

const started = Date.now();
const step = (text) => console.log(`console e2e: ${((Date.now() - started) / 1000).toFixed(1)}s ${text}`);
function check(ok, text) {
  if (!ok) throw new Error(`check failed: ${text}`);
}

/** The hub's API as the test's own admin (Bearer), to check what the console did. */
async function api(method, path, body) {
  const response = await fetch(`${hub}${path}`, {
    method,
    headers: { Authorization: `Bearer ${admin}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Splits the console's `gantry agent start …` line into its words (single quotes honoured). */
function words(line) {
  const out = [];
  for (const match of line.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)) {
    out.push(match[1] !== undefined ? match[1].replaceAll("'\\''", "'") : match[2]);
  }
  return out;
}

let browser = null;
let agent = null;
let evil = null;
const violations = [];

async function shot(page, name, secret = null) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  // A shown-once token is drawn as dots in the picture (the README's screenshots are kept in git).
  if (secret) await page.evaluate((text) => hideText(text), secret).catch(() => {});
  await page.screenshot({ path: join(shots, `${name}.png`) });
}

async function main() {
  mkdirSync(dir, { recursive: true });
  browser = await launchChromium();
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    colorScheme: "light",
    acceptDownloads: true,
    locale: "en-US",
  });
  await context.addInitScript(() => {
    window.hideText = (text) => {
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (node.textContent.includes(text)) node.textContent = node.textContent.replaceAll(text, "•".repeat(24));
      }
    };
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const page = await context.newPage();
  const calls = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.origin === hub && url.pathname.startsWith("/v1/")) calls.push({ method: request.method(), path: url.pathname });
  });
  page.on("console", (message) => {
    if (/Content.Security.Policy/i.test(message.text())) violations.push(message.text());
  });
  const id = (name) => page.getByTestId(name);

  // ---- sign in: a wrong token and a node token are refused, the admin's is taken ----
  await page.goto(`${hub}/`);
  await id("screen-sign-in").waitFor();
  await shot(page, "console-sign-in");
  await id("sign-in-token").fill("not-a-token");
  await id("sign-in-submit").click();
  await id("sign-in-error").waitFor();
  check((await id("sign-in-error").innerText()).length > 10, "a wrong token gets a sentence");
  await id("sign-in-token").fill(nodeToken);
  await id("sign-in-submit").click();
  await page.waitForFunction(() => /node token/i.test(document.querySelector('[data-testid="sign-in-error"]')?.textContent ?? ""));
  step("a wrong token and a node token are refused with a sentence");
  await id("sign-in-token").fill(admin);
  await id("sign-in-submit").click();
  await id("screen-cluster").waitFor();
  check((await id("sign-in-token").count()) === 0, "the sign-in field is gone");
  const cookies = await context.cookies(hub);
  const session = cookies.find((c) => c.name === "gantry_session");
  check(session, "the hub set gantry_session");
  check(session.httpOnly && session.sameSite === "Strict", "the cookie is HttpOnly and SameSite=Strict");
  check(session.value !== admin && !session.value.includes(admin), "the cookie is not the token");
  step("signed in: gantry_session is HttpOnly, SameSite=Strict and not the token");

  // ---- add a node; start an agent with the printed line; it comes online with charts ----
  await id("add-node").click();
  await id("add-node-name").fill("e2e-node");
  await id("add-node-labels").fill("e2e");
  await id("add-node-submit").click();
  await id("add-node-command").waitFor();
  const line = (await id("add-node-command").innerText()).trim();
  const argv = words(line);
  check(argv[0] === "gantry" && argv[1] === "agent" && argv[2] === "start", `the agent line: ${line}`);
  check(argv.includes("--server") && argv[argv.indexOf("--server") + 1] === hub, `the line names the hub: ${line}`);
  check((await id("add-node-wizard").innerText()).length > 20, "the wizard's steps are shown");
  const agentEnv = { ...process.env, GANTRY_HOST_DIR: join(dir, "agent"), XDG_CONFIG_HOME: dir, RUST_LOG: "warn" };
  for (const name of ["GANTRY_TOKEN", "ACCESS_TOKEN", "GANTRY_SERVER", "SERVER_ADDRESS", "GANTRY_ADMIN_TOKEN"]) delete agentEnv[name];
  agent = spawn(gantry, argv.slice(1), { env: agentEnv, stdio: ["ignore", "ignore", "pipe"] });
  let agentErr = "";
  agent.stderr.on("data", (b) => (agentErr = (agentErr + b).slice(-4000)));
  const agentExit = new Promise((resolve) => agent.on("exit", (code) => resolve(code)));
  const tokenOnce = line.match(/--token\s+'?([^'\s]+)/)?.[1] ?? "";
  await shot(page, "console-add-node", tokenOnce);
  await id("add-node-done").click();
  await id("add-node-token").waitFor({ state: "detached" });
  check((await id("add-node-command").count()) === 0, "the dialog with the token is closed");
  check(tokenOnce.length > 10 && !(await page.content()).includes(tokenOnce), "the node's token is gone from the page once the dialog closes");
  const row = page.locator('[data-testid="node-row"][data-node-name="e2e-node"]');
  await page.locator('[data-testid="node-row"][data-node-name="e2e-node"][data-state="online"]').waitFor({ timeout: 60_000 });
  await row.getByTestId("node-cpu-chart").waitFor();
  await row.getByTestId("node-memory-chart").waitFor();
  await row.getByTestId("node-no-gpu").or(row.getByTestId("node-gpu-chart").first()).waitFor();
  step("the agent started from the printed line is online, with its charts");

  // ---- submit from the editor with a local input file; the log arrives live ----
  const input = randomBytes(3 * 1024 * 1024 + 17);
  const inputPath = join(dir, "input.bin");
  writeFileSync(inputPath, input);
  const inputSum = createHash("sha256").update(input).digest("hex");
  await id("nav-submit").click();
  await id("screen-submit").waitFor();
  await id("submit-tab-editor").click();
  await id("job-editor").fill(`image: ${image}\ncommand: [sleep, 10]\n`);
  await page.locator('[data-testid="job-problem"][data-path^="command"][data-line="2"]').waitFor();
  step("the editor shows the hub's problem with its key path as one types");
  const job = [
    "name: e2e-copy",
    `image: ${image}`,
    "command: [sh, -c, 'for i in $(seq 1 60); do echo \"line $i\"; sleep 0.2; done; mkdir -p out && cp input.bin out/result.bin']",
    "outputs: [out]",
    "labels: [e2e]",
    "",
  ].join("\n");
  await id("job-editor").fill(job);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="job-problem"]').length === 0);
  await id("job-files").setInputFiles(inputPath);
  await page.locator('[data-testid="job-file-row"][data-name="input.bin"]').waitFor();
  await shot(page, "console-submit");
  await id("job-submit").click();
  await id("submitted-task").waitFor({ timeout: 60_000 });
  const copyId = (await id("submitted-task").getAttribute("href")).split("/").pop();
  check((await api("GET", `/v1/tasks/${copyId}`)).spec.inputs, "the task has its input");
  step(`submitted ${copyId} with its input uploaded`);
  await id("submitted-task").click();
  await id("screen-task-detail").waitFor();
  await page.locator('[data-testid="log-line"]', { hasText: "line 3" }).first().waitFor({ timeout: 90_000 });
  const stateWhileLogging = (await api("GET", `/v1/tasks/${copyId}`)).state;
  check(stateWhileLogging === "running", `log lines arrive while the task runs (it is ${stateWhileLogging})`);
  step("log lines appear live while the task runs");
  await shot(page, "console-task-detail");
  await page.locator('[data-testid="task-state"]', { hasText: "succeeded" }).waitFor({ timeout: 120_000 });
  const output = page.locator('[data-testid="output-row"][data-path="out/result.bin"]');
  await output.waitFor({ timeout: 30_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), output.getByTestId("output-download").click()]);
  const saved = join(dir, "downloaded.bin");
  await download.saveAs(saved);
  const got = createHash("sha256").update(readFileSync(saved)).digest("hex");
  check(got === inputSum, `the downloaded output is byte-exact (${got} vs ${inputSum})`);
  step("the output downloads byte-exact");

  // ---- a cross-site forgery is refused; the console cancels the task itself ----
  await id("nav-submit").click();
  await id("submit-tab-form").click();
  await id("new-task-image").fill(image);
  await id("new-task-command").fill("sleep 300");
  await id("new-task-submit").click();
  await id("submitted-task").waitFor({ timeout: 30_000 });
  const sleepId = (await id("submitted-task").getAttribute("href")).split("/").pop();
  await waitState(sleepId, "running", 90_000);
  evil = await evilSite(sleepId);
  const forgery = await context.newPage();
  await forgery.goto(evil.url);
  await forgery.waitForFunction(() => window.__sent === true, null, { timeout: 10_000 });
  await forgery.waitForTimeout(1000);
  await forgery.close();
  const afterForgery = await api("GET", `/v1/tasks/${sleepId}`);
  check(afterForgery.state === "running" && afterForgery.pending_command === null, `a forged cross-site POST changed nothing (${afterForgery.state})`);
  step("a forged cross-site cancel from another origin is refused");
  await id("nav-tasks").click();
  await id("screen-tasks").waitFor();
  const sleepRow = page.locator(`[data-testid="task-row"][data-task-id="${sleepId}"]`);
  await sleepRow.waitFor();
  await shot(page, "console-tasks");
  await sleepRow.getByTestId("task-cancel").click();
  await page.locator(`[data-testid="task-row"][data-task-id="${sleepId}"][data-state="canceled"]`).waitFor({ timeout: 60_000 });
  step("the console cancels a running task, and the list follows live");

  // ---- tokens: create (shown once) and revoke ----
  await id("nav-tokens").click();
  await id("screen-tokens").waitFor();
  await id("token-create-name").fill("e2e-bot");
  await id("token-create").click();
  await id("token-created").waitFor();
  await shot(page, "console-tokens", (await id("token-created").innerText()).trim());
  await page.keyboard.press("Escape");
  const botRow = page.locator('[data-testid="token-row"][data-name="e2e-bot"]');
  await botRow.getByTestId("token-revoke").click();
  await id("confirm-revoke-yes").click();
  await botRow.waitFor({ state: "detached", timeout: 10_000 });
  step("an admin token is created, shown once, and revoked");

  // ---- rename and remove the node; its agent stops ----
  await id("nav-cluster").click();
  await row.getByTestId("node-cpu-chart").waitFor();
  await page.waitForTimeout(1500); // the charts, with the heartbeats since the agent started
  // Usage accounting: the two tasks that ended (one succeeded, one canceled) are the node's week.
  await row.locator('[data-testid="node-usage-totals"]', { hasText: "2 tasks" }).waitFor({ timeout: 15_000 });
  check((await row.getByTestId("node-usage-bar").count()) === 7, "the node's usage chart has a bar for each of the last 7 days");
  step("the node card shows its usage of the last 7 days");
  await shot(page, "console-cluster");
  await row.getByTestId("node-rename").click();
  await id("node-rename-input").fill("e2e-renamed");
  await id("node-rename-save").click();
  const renamed = page.locator('[data-testid="node-row"][data-node-name="e2e-renamed"]');
  await renamed.waitFor({ timeout: 10_000 });
  await renamed.getByTestId("node-remove").click();
  await id("confirm-remove").waitFor();
  check(/cancel/i.test(await id("confirm-remove").innerText()), "the confirmation says what happens to its tasks");
  await id("confirm-remove-yes").click();
  await renamed.waitFor({ state: "detached", timeout: 10_000 });
  const code = await Promise.race([agentExit, new Promise((r) => setTimeout(() => r("still running"), 60_000))]);
  check(code === 3, `the removed node's agent exits 3 (${code}): ${agentErr}`);
  agent = null;
  step("the node is renamed and removed; its agent stopped with exit 3");

  // ---- the token was never kept by the page ----
  const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  check(!storage.includes(admin), "no storage holds the admin token");
  check(!(await page.content()).includes(admin), "the page does not hold the admin token");
  check(calls.every((c) => !c.path.includes(admin)), "no URL carries the token");

  // ---- every call the console made is an OpenAPI operation, and 401 without a session ----
  const document = await (await fetch(`${hub}/v1/openapi.json`)).json();
  const operations = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => ({
      method: method.toUpperCase(),
      pattern: new RegExp(`^${path.replace(/\{path\}/g, ".+").replace(/\{[^}]+\}/g, "[^/]+")}$`),
    })),
  );
  const seen = new Map(calls.map((c) => [`${c.method} ${c.path}`, c]));
  for (const call of seen.values()) {
    check(operations.some((op) => op.method === call.method && op.pattern.test(call.path)), `${call.method} ${call.path} is an OpenAPI operation`);
    if (call.path === "/v1/session" && call.method !== "GET") continue;
    const response = await fetch(`${hub}${call.path}`, { method: call.method });
    check(response.status === 401, `${call.method} ${call.path} without a session is 401 (got ${response.status})`);
  }
  step(`all ${seen.size} distinct calls the console made are OpenAPI operations and 401 without a session`);

  // ---- light/dark and a phone's width ----
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark" });
  await phone.addCookies([session]);
  const small = await phone.newPage();
  await small.goto(`${hub}/#/tasks`);
  await small.getByTestId("screen-tasks").waitFor();
  await small.locator('[data-testid="task-row"]').first().waitFor();
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `nothing runs off a phone's width (${overflow} px)`);
  if (shots) await small.screenshot({ path: join(shots, "console-tasks-phone-dark.png") });
  await phone.close();
  step("the tasks page reads at 390 px in dark");

  // ---- sign out: the old cookie is refused ----
  await id("sign-out").click();
  await id("screen-sign-in").waitFor();
  const old = await fetch(`${hub}/v1/session`, { headers: { Cookie: `gantry_session=${session.value}` } });
  check(old.status === 401, `the signed-out cookie is refused (${old.status})`);
  const oldTasks = await fetch(`${hub}/v1/tasks`, { headers: { Cookie: `gantry_session=${session.value}` } });
  check(oldTasks.status === 401, `the signed-out cookie reads no tasks (${oldTasks.status})`);
  step("signed out; the old cookie is refused");

  const csp = await page.evaluate(() => window.__csp);
  check(csp.length === 0 && violations.length === 0, `no Content-Security-Policy violation: ${[...csp, ...violations].join("; ")}`);
  step("no CSP violation on any page");
}

/** Waits until the hub says the task is in `state`. */
async function waitState(taskId, state, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const task = await api("GET", `/v1/tasks/${taskId}`);
    if (task.state === state) return task;
    if (Date.now() > end) throw new Error(`task ${taskId} is ${task.state}, not ${state}, after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** A page of another origin that tries to cancel a task with the browser's cookie: a form and a fetch. */
async function evilSite(taskId) {
  const target = `${hub}/v1/tasks/${taskId}/cancel`;
  const html = `<!doctype html><html><body>
<form id="f" method="POST" action="${target}" target="sink" enctype="text/plain"><input name="x" value="y"></form>
<iframe name="sink"></iframe>
<script>
  fetch(${JSON.stringify(target)}, { method: "POST", credentials: "include", mode: "no-cors" })
    .finally(() => { document.getElementById("f").submit(); window.__sent = true; });
</script></body></html>`;
  const server = createServer((_, response) => {
    response.writeHead(200, { "Content-Type": "text/html" });
    response.end(html);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

try {
  await main();
  console.log("console e2e: passed");
} catch (error) {
  console.error(`console e2e: FAILED: ${error.stack ?? error}`);
  if (browser && shots) {
    for (const context of browser.contexts()) {
      for (const [i, p] of context.pages().entries()) await p.screenshot({ path: join(shots, `failed-${i}.png`) }).catch(() => {});
    }
  }
  process.exitCode = 1;
} finally {
  if (agent) agent.kill("SIGTERM");
  evil?.server.close();
  await browser?.close();
  // Open keep-alive sockets (node's fetch) would hold the process for a minute.
  process.exit(process.exitCode ?? 0);
}
