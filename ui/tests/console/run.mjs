#!/usr/bin/env node
// The console's browser smoke test: builds the console (vite.console.config.ts)
// into a temporary folder, serves it from a mocked hub (mock-hub.mjs, with the
// hub's CSP on every answer), and drives it in Debian's Chromium through
// playwright-core: sign-in refused and accepted, the shell, the Tokens page
// (list, create shown once, revoke), sign-out, the session ending from a page
// (revoking your own token), keyboard and dialogs, no CSP violation, no token
// in storage, URLs or console. Screenshots at 1280×800 and 390×844, light and
// dark, go to tests/console/out/ (git-ignored) to look at.
//
//   npm run test:console
//
// Environment: GANTRY_CHROMIUM (default /usr/bin/chromium, then chromium on PATH).
// A mocked backend adds cases; the real end-to-end test runs against the real hub.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findChromium, launchChromium } from "../chromium.mjs";

import {
  CI_TOKEN,
  GOOD_TOKEN,
  NODE_SENTENCE,
  NODE_TOKEN,
  REVOKED_SESSION_SENTENCE,
  UNKNOWN_SENTENCE,
  startMockHub,
} from "./mock-hub.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const ui = resolve(here, "../..");
const outDir = join(here, "out");


class Failure extends Error {}
function check(ok, what) {
  if (!ok) throw new Failure(what);
}

/** Collects what a page says that it should not: errors, CSP violations, the token anywhere visible. */
const WATCH = `
  window.__csp = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
  });
`;

class Session {
  /** @param {import("playwright-core").Browser} browser @param {string} url */
  constructor(browser, url) {
    this.browser = browser;
    this.url = url;
    this.errors = [];
    this.consoleLines = [];
    this.requests = [];
  }

  async open({ viewport = { width: 1280, height: 800 }, colorScheme = "light", hash = "" } = {}) {
    this.context = await this.browser.newContext({ viewport, colorScheme, reducedMotion: "reduce", locale: "en-US" });
    await this.context.addInitScript(WATCH);
    this.page = await this.context.newPage();
    this.page.setDefaultTimeout(10_000);
    this.page.on("pageerror", (e) => this.errors.push(`page error: ${e.stack ?? e}`));
    this.page.on("console", (m) => {
      this.consoleLines.push(m.text());
      // The browser reports each 401/403/404 answer as a console error; those are expected here.
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) this.errors.push(`console error: ${m.text()}`);
    });
    this.page.on("request", (r) => this.requests.push(r.url()));
    await this.page.goto(`${this.url}/${hash}`);
    return this.page;
  }

  id(testid) {
    return this.page.getByTestId(testid, { exact: true });
  }

  async signIn(token) {
    await this.id("sign-in-token").fill(token);
    await this.id("sign-in-submit").click();
  }

  /** Every problem seen so far: page errors, console errors, CSP violations. */
  async problems() {
    const csp = this.page ? await this.page.evaluate(() => window.__csp.slice()).catch(() => []) : [];
    return [...this.errors, ...csp.map((c) => `CSP violation: ${c}`)];
  }

  /** Fails when a token is anywhere the page keeps things: storage, the URL, requests' URLs, console lines, the DOM's HTML. */
  async expectNoToken(tokens) {
    const kept = await this.page.evaluate(() => ({
      storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
      cookie: document.cookie,
      html: document.documentElement.outerHTML,
      url: location.href,
      values: [...document.querySelectorAll("input")].map((i) => i.value).join("\n"),
    }));
    for (const token of tokens) {
      check(!kept.storage.includes(token), "a token is in localStorage or sessionStorage");
      check(!kept.cookie.includes(token), "a token is in a script-visible cookie");
      check(!kept.url.includes(token), "a token is in the URL");
      check(!kept.values.includes(token), "a token stays in an input field");
      check(!this.requests.some((u) => u.includes(token)), "a token went into a request's URL");
      check(!this.consoleLines.some((l) => l.includes(token)), "a token was written to the console");
    }
    return kept;
  }

  async shot(name) {
    mkdirSync(outDir, { recursive: true });
    await this.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await this.page.screenshot({ path: join(outDir, `${name}.png`) });
  }

  async close() {
    await this.context?.close().catch(() => {});
  }
}

const steps = [];
const step = (name, fn) => steps.push({ name, fn });

// ---- the cases ----

step("sign-in: a wrong token and a node token get the hub's sentence; a good one opens the shell", async ({ s, hub }) => {
  const page = await s.open();
  await s.id("screen-sign-in").waitFor({ state: "attached" });
  check((await s.id("sign-in-token").getAttribute("type")) === "password", "the token field is not type=password");
  check((await s.id("sign-in-token").getAttribute("autocomplete")) === "off", "the token field lacks autocomplete=off");
  check((await page.getByLabel("Admin token").count()) === 1, "the token field has no label");
  check(page.url().endsWith("#/cluster"), `the default route is not #/cluster: ${page.url()}`);

  await s.signIn("gantry_admin_nonsense");
  await s.id("sign-in-error").waitFor();
  check((await s.id("sign-in-error").textContent())?.includes(UNKNOWN_SENTENCE), "the 401 sentence is not shown");

  await s.signIn(NODE_TOKEN);
  await page.waitForFunction((t) => document.querySelector('[data-testid="sign-in-error"]')?.textContent?.includes(t), NODE_SENTENCE);

  await s.signIn(GOOD_TOKEN);
  await s.id("screen-cluster").waitFor({ state: "attached" });
  check((await s.id("signed-in-as").textContent())?.trim() === "alice", "signed-in-as does not name alice");
  await page.waitForSelector('[data-testid="live-status"][data-connected="true"]', { timeout: 5000 });
  check((await s.id("nav-cluster").getAttribute("aria-current")) === "page", "nav-cluster is not the current page");
  check(hub.state.streams.size === 1, `${hub.state.streams.size} event streams open after sign-in, not 1`);
  await s.expectNoToken([GOOD_TOKEN, NODE_TOKEN]);

  // The navigation is made of links: each page by its hash.
  for (const [nav, screen, hash] of [
    ["nav-tasks", "screen-tasks", "#/tasks"],
    ["nav-submit", "screen-submit", "#/submit"],
    ["nav-tokens", "screen-tokens", "#/tokens"],
    ["nav-cluster", "screen-cluster", "#/cluster"],
  ]) {
    await s.id(nav).click();
    await s.id(screen).waitFor({ state: "attached" });
    check(page.url().endsWith(hash), `${nav} led to ${page.url()}`);
  }
  // A task's page by its link, and Back.
  await page.evaluate(() => (location.hash = "#/tasks/abc%2F1"));
  await s.id("screen-task-detail").waitFor({ state: "attached" });
  check((await page.title()) === "Task abc/1 · Gantry hub", `the task's id did not reach its page: ${await page.title()}`);
  check((await s.id("nav-tasks").getAttribute("aria-current")) === "page", "a task's page does not light Tasks");
  await page.goBack();
  await s.id("screen-cluster").waitFor({ state: "attached" });
  // An unknown hash lands on the default page.
  await page.evaluate(() => (location.hash = "#/nowhere"));
  await s.id("screen-cluster").waitFor({ state: "attached" });
  await page.waitForFunction(() => location.hash === "#/cluster");
});

step("a session survives a reload (the cookie), and a deep link opens its page", async ({ s }) => {
  const page = await s.open({ hash: "#/tokens" });
  await s.signIn(GOOD_TOKEN);
  await s.id("screen-tokens").waitFor({ state: "attached" });
  await page.reload();
  await s.id("screen-tokens").waitFor({ state: "attached" });
  check((await s.id("screen-sign-in").count()) === 0, "the sign-in screen came back after a reload");
});

step("tokens: list, create shown once, revoke with a confirmation", async ({ s, hub }) => {
  const page = await s.open({ hash: "#/tokens" });
  await s.signIn(GOOD_TOKEN);
  await s.id("screen-tokens").waitFor({ state: "attached" });
  await s.id("token-row").first().waitFor();
  const names = await s.id("token-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-name")));
  check(JSON.stringify(names) === JSON.stringify(["alice", "ci"]), `token rows: ${names}`);
  const ci = page.locator('[data-testid="token-row"][data-name="ci"]');
  check((await ci.getByTestId("token-last-used").textContent())?.trim() === "never", "ci's last use is not 'never'");
  const alice = page.locator('[data-testid="token-row"][data-name="alice"]');
  check((await alice.getByTestId("token-last-used").textContent())?.trim() === "just now", "alice's last use is not 'just now'");
  check(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test((await alice.getByTestId("token-last-used").getAttribute("title")) ?? ""), "no exact time in the last use's title");

  // A name the hub refuses: its sentence.
  await s.id("token-create-name").fill("bad name!");
  await s.id("token-create").click();
  await s.id("token-create-error").waitFor();
  check((await s.id("token-create-error").textContent())?.includes("letters, digits"), "the hub's refusal is not shown");

  // Create: shown once, with a copy button and the warning; gone when dismissed.
  await s.id("token-create-name").fill("bob");
  await s.id("token-create").click();
  await s.id("token-created").waitFor();
  const minted = hub.state.minted.at(-1);
  check((await s.id("token-created").textContent()) === minted, "token-created does not hold exactly the new token");
  check((await s.id("token-created-dialog").textContent())?.includes("will not be shown again"), "no 'will not be shown again'");
  await s.context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await s.id("token-copy").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="token-copy"]')?.textContent?.includes("Copied"));
  check((await page.evaluate(() => navigator.clipboard.readText())) === minted, "Copy did not put the token in the clipboard");
  check((await s.id("token-create-name").inputValue()) === "", "the name field was not cleared");
  await page.waitForSelector('[data-testid="token-row"][data-name="bob"]');
  await s.expectNoToken([GOOD_TOKEN]);
  const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  check(!storage.includes(minted), "the new token is in storage");
  await page.keyboard.press("Escape");
  await s.id("token-created").waitFor({ state: "detached" });
  check(!(await page.content()).includes(minted), "the new token is still in the page after dismissing it");

  // Revoke: the confirmation says what stops; Escape keeps the token; yes revokes it.
  await ci.getByTestId("token-revoke").click();
  await s.id("confirm-revoke").waitFor();
  const words = (await s.id("confirm-revoke").textContent()) ?? "";
  check(words.includes("sessions") && words.includes("stop working"), `the confirmation does not say what stops: ${words}`);
  check(!words.includes("signs you out"), "revoking another's token warns about signing out");
  const focused = await page.evaluate(() => document.activeElement?.getAttribute("data-testid"));
  check(focused === "confirm-revoke-no", `the safe button does not have the focus: ${focused}`);
  // Focus stays in the dialog.
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press("Tab");
    const inside = await page.evaluate(() => {
      const a = document.activeElement;
      return !a || a === document.body || a.closest("dialog") !== null;
    });
    check(inside, "Tab left the dialog");
  }
  await page.keyboard.press("Escape");
  await s.id("confirm-revoke").waitFor({ state: "detached" });
  check((await ci.count()) === 1, "Escape revoked the token");

  await ci.getByTestId("token-revoke").click();
  await s.id("confirm-revoke-yes").click();
  await ci.waitFor({ state: "detached" });
  check(![...hub.state.tokens.values()].some((t) => t.name === "ci"), "the hub still holds ci's token");
  check(hub.state.calls.includes("DELETE /v1/tokens/ci 200"), "no DELETE /v1/tokens/ci");
  check(!hub.state.calls.some((c) => c.endsWith(" 403")), `a call was refused for CSRF: ${hub.state.calls}`);
  await s.expectNoToken([GOOD_TOKEN, CI_TOKEN, minted]);
});

step("sign-out returns to sign-in and ends the session on the hub", async ({ s, hub }) => {
  const page = await s.open();
  await s.signIn(GOOD_TOKEN);
  await s.id("screen-cluster").waitFor({ state: "attached" });
  check(hub.state.sessions.size > 0, "no session on the hub");
  const before = hub.state.sessions.size;
  await s.id("sign-out").click();
  await s.id("screen-sign-in").waitFor({ state: "attached" });
  check(hub.state.sessions.size === before - 1, "the session was not ended on the hub");
  check((await s.id("sign-in-token").inputValue()) === "", "the token field is not empty after sign-out");
  check((await s.id("session-ended").count()) === 0, "a deliberate sign-out says the session ended by itself");
  await page.waitForSelector('[data-testid="live-status"]', { state: "detached" });
  // A reload stays signed out.
  await page.reload();
  await s.id("screen-sign-in").waitFor({ state: "attached" });
  await s.expectNoToken([GOOD_TOKEN]);
});

step("revoking your own token: warned, then the next call is 401 and the sign-in screen says why", async ({ s }) => {
  const page = await s.open({ hash: "#/tokens" });
  await s.signIn(GOOD_TOKEN);
  await page.locator('[data-testid="token-row"][data-name="alice"]').getByTestId("token-revoke").click();
  await s.id("confirm-revoke").waitFor();
  check((await s.id("confirm-revoke").textContent())?.includes("signs you out"), "no warning that it signs you out");
  await s.id("confirm-revoke-yes").click();
  await s.id("screen-sign-in").waitFor({ state: "attached" });
  await s.id("session-ended").waitFor();
  check((await s.id("session-ended").textContent())?.includes(REVOKED_SESSION_SENTENCE), "the hub's sentence is not shown");
  await page.waitForSelector('[data-testid="live-status"]', { state: "detached" });
  // The revoked token no longer signs in.
  await s.signIn(GOOD_TOKEN);
  await s.id("sign-in-error").waitFor();
});

step("an idle page notices a session that ended elsewhere (the event stream drops, the hub says 401)", async ({ s, hub }) => {
  const page = await s.open();
  await s.signIn(GOOD_TOKEN);
  await page.waitForSelector('[data-testid="live-status"][data-connected="true"]');
  hub.endSessions();
  await s.id("session-ended").waitFor();
  check((await s.id("session-ended").textContent())?.includes(REVOKED_SESSION_SENTENCE), "the hub's sentence is not shown");
  check((await s.id("sign-in-token").inputValue()) === "", "the token field is not empty");
});

step("the CSP watcher catches a violation (so its silence means something)", async ({ s }) => {
  const page = await s.open();
  await s.id("screen-sign-in").waitFor({ state: "attached" });
  await page.evaluate(() => document.body.setAttribute("style", "color: red"));
  await page.waitForFunction(() => window.__csp.length > 0, null, { timeout: 5000 });
  s.errors.length = 0;
  await page.evaluate(() => (window.__csp.length = 0));
});

step("screenshots at 1280×800 and 390×844, light and dark", async ({ s, browser, hub }) => {
  for (const viewport of [
    { width: 1280, height: 800 },
    { width: 390, height: 844 },
  ]) {
    for (const colorScheme of ["light", "dark"]) {
      const tag = `${viewport.width}x${viewport.height}-${colorScheme}`;
      const v = new Session(browser, hub.url);
      try {
        const page = await v.open({ viewport, colorScheme, hash: "#/tokens" });
        await v.id("screen-sign-in").waitFor({ state: "attached" });
        await v.signIn("wrong");
        await v.id("sign-in-error").waitFor();
        await v.shot(`sign-in-${tag}`);
        await v.signIn(GOOD_TOKEN);
        await v.id("token-row").first().waitFor();
        await page.waitForSelector('[data-testid="live-status"][data-connected="true"]');
        await v.shot(`tokens-${tag}`);
        // Nothing wider than the screen.
        const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        check(wide <= 0, `the page is ${wide} px wider than the ${tag} screen`);
        await page.locator('[data-testid="token-row"]').first().getByTestId("token-revoke").click();
        await v.id("confirm-revoke").waitFor();
        await v.shot(`confirm-revoke-${tag}`);
        await page.keyboard.press("Escape");
        await v.id("token-create-name").fill(`shot-${colorScheme}-${viewport.width}`);
        await v.id("token-create").click();
        await v.id("token-created").waitFor();
        await v.shot(`token-created-${tag}`);
        await page.keyboard.press("Escape");
        await v.id("nav-cluster").click();
        await v.id("screen-cluster").waitFor({ state: "attached" });
        // Keyboard: the focus outline is visible on a nav link.
        await v.id("nav-tasks").focus();
        await page.keyboard.press("Shift+Tab");
        await page.keyboard.press("Tab");
        const outline = await v.id("nav-tasks").evaluate((el) => getComputedStyle(el).outlineStyle);
        check(outline !== "none", `no focus outline on a nav link (${tag})`);
        await v.shot(`shell-${tag}`);
        const problems = await v.problems();
        check(problems.length === 0, `${tag}: ${problems.join("; ")}`);
      } finally {
        await v.close();
      }
    }
  }
  void s;
});

// ---- the runner ----

async function main() {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), "gantry-console-browser-"));
  const dist = join(work, "dist-console");
  let hub;
  let browser;
  let failed = 0;
  try {
    const { build } = await import("vite");
    await build({ configFile: join(ui, "vite.console.config.ts"), root: ui, logLevel: "warn", build: { outDir: dist, emptyOutDir: true } });
    browser = await launchChromium();
    console.log(`console tests: ${browser.version()} (${findChromium()}), built in ${Date.now() - started} ms`);
    for (const { name, fn } of steps) {
      // A fresh hub for each case: its tokens and sessions as they start.
      hub = await startMockHub(dist);
      const s = new Session(browser, hub.url);
      const t0 = Date.now();
      try {
        await fn({ s, hub, browser });
        const problems = await s.problems();
        if (problems.length > 0) throw new Failure(`the page reported problems:\n    ${problems.join("\n    ")}`);
        console.log(`ok   ${name} (${Date.now() - t0} ms)`);
      } catch (e) {
        failed += 1;
        console.log(`FAIL ${name} (${Date.now() - t0} ms)\n    ${String(e instanceof Failure ? e.message : (e.stack ?? e)).split("\n").join("\n    ")}`);
        if (s.page) {
          mkdirSync(join(outDir, "failures"), { recursive: true });
          const path = join(outDir, "failures", `${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}.png`);
          await s.page.screenshot({ path }).catch(() => {});
          console.log(`    screenshot: ${path}`);
        }
      } finally {
        await s.close();
        await hub.close();
        hub = null;
      }
    }
  } finally {
    await browser?.close().catch(() => {});
    await hub?.close();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(
    `console tests: ${steps.length - failed} passed, ${failed} failed, in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${outDir}`,
  );
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`console tests could not run: ${e.stack ?? e}`);
    process.exit(1);
  },
);
