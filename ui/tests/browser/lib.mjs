// Helpers for the browser tests: the test registry, opening the harness in a
// fresh browser context, waiting, and screenshots. Plain Node (no test
// framework): run.mjs runs what `test()` registered, one at a time.

import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** @typedef {{ name: string, fn: (t: TestContext) => Promise<void>, timeout: number }} TestCase */

/** @type {TestCase[]} */
export const tests = [];

/**
 * Registers a test.
 * @param {string} name
 * @param {(t: TestContext) => Promise<void>} fn
 * @param {{ timeout?: number }} [options]
 */
export function test(name, fn, options = {}) {
  tests.push({ name, fn, timeout: options.timeout ?? 60_000 });
}

/** The size the screenshots and tests use. */
export const VIEWPORT = { width: 1100, height: 720 };

/**
 * What each test gets: the shared browser and server, and a way to open the
 * app; everything it opens is closed after it.
 */
export class TestContext {
  /**
   * @param {{ browser: import("playwright-core").Browser, baseUrl: string, shotsDir: string | null, failDir: string, name: string }} shared
   */
  constructor(shared) {
    this.browser = shared.browser;
    this.baseUrl = shared.baseUrl;
    this.shotsDir = shared.shotsDir;
    this.failDir = shared.failDir;
    this.name = shared.name;
    /** @type {import("playwright-core").BrowserContext[]} */
    this.contexts = [];
    /** @type {App[]} */
    this.apps = [];
    /** Measured figures to print with the result. */
    this.figures = [];
  }

  /** Records a measured figure ("longest frame gap: 48 ms"); printed under the test's result. */
  figure(text) {
    this.figures.push(text);
  }

  /**
   * Opens the harness in a new browser context.
   * @param {{ query?: Record<string, string>, colorScheme?: "light" | "dark", viewport?: { width: number, height: number }, waitFor?: string | null, init?: string }} [options]
   * @returns {Promise<App>}
   */
  async open(options = {}) {
    const context = await this.browser.newContext({
      viewport: options.viewport ?? VIEWPORT,
      colorScheme: options.colorScheme ?? "light",
      reducedMotion: "reduce",
      locale: "en-US",
      deviceScaleFactor: 1,
    });
    this.contexts.push(context);
    // Runs before any of the page's scripts.
    if (options.init) await context.addInitScript(options.init);
    const page = await context.newPage();
    const app = new App(page);
    this.apps.push(app);
    const query = new URLSearchParams(options.query ?? {}).toString();
    await page.goto(`${this.baseUrl}/harness.html${query ? `?${query}` : ""}`);
    await page.waitForFunction(() => window.__mounted === true, null, { timeout: 10_000 });
    const waitFor = options.waitFor === undefined ? "screen-overview" : options.waitFor;
    if (waitFor) await app.id(waitFor).first().waitFor({ timeout: 10_000 });
    return app;
  }

  /** Saves a screenshot of the page as <name>.png in the screenshots folder (when there is one). */
  async shot(app, name) {
    if (!this.shotsDir) return;
    mkdirSync(this.shotsDir, { recursive: true });
    // Let charts and fonts settle.
    await app.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await app.page.screenshot({ path: join(this.shotsDir, `${name}.png`) });
  }

  /** After a failure: a screenshot of each open page, to look at. */
  async saveFailureShots() {
    mkdirSync(this.failDir, { recursive: true });
    const saved = [];
    let i = 0;
    for (const app of this.apps) {
      const path = join(this.failDir, `${this.name.replace(/[^a-z0-9]+/gi, "-")}-${i++}.png`);
      try {
        await app.page.screenshot({ path, timeout: 5000 });
        saved.push(path);
      } catch {
        // The page may be gone.
      }
    }
    return saved;
  }

  /** Problems the pages reported: uncaught errors, console errors, unknown commands. */
  async problems() {
    const out = [];
    for (const app of this.apps) {
      out.push(...app.errors.map((e) => `page error: ${e}`));
      out.push(...app.consoleErrors.map((e) => `console error: ${e}`));
      try {
        const unknown = await app.page.evaluate(() => window.__mock.unknown.slice());
        out.push(...unknown.map((c) => `unknown command invoked: ${c}`));
      } catch {
        // Page closed.
      }
    }
    return out;
  }

  async close() {
    for (const c of this.contexts) await c.close().catch(() => {});
  }
}

/** One open harness page. */
export class App {
  /** @param {import("playwright-core").Page} page */
  constructor(page) {
    this.page = page;
    /** @type {string[]} */
    this.errors = [];
    /** @type {string[]} */
    this.consoleErrors = [];
    page.on("pageerror", (e) => this.errors.push(e.stack ?? String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") this.consoleErrors.push(m.text());
    });
  }

  /** The elements with data-testid=`id`. */
  id(id) {
    return this.page.getByTestId(id, { exact: true });
  }

  /** Runs `fn(window.__mock, arg)` in the page. */
  mock(fn, arg) {
    return this.page.evaluate(`(${fn.toString()})(window.__mock, ${JSON.stringify(arg ?? null)})`);
  }

  /** The recorded calls of one command. */
  callsOf(cmd) {
    return this.page.evaluate((c) => window.__mock.callsOf(c), cmd);
  }

  /** Clicks nav-<name> and waits for screen-<screen ?? name>. */
  async go(name, screen) {
    await this.id(`nav-${name}`).click();
    await this.id(`screen-${screen ?? name}`).waitFor({ timeout: 5000 });
  }

  /** How many elements have data-testid=`id`. */
  count(id) {
    return this.id(id).count();
  }
}

/**
 * Polls `fn` until it returns a truthy value; throws with `what` (and the last
 * value seen) after `timeout` ms.
 * @template T
 * @param {() => Promise<T> | T} fn
 * @param {string} what
 * @param {number} [timeout]
 * @returns {Promise<T>}
 */
export async function until(fn, what, timeout = 5000) {
  const end = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > end) {
      const seen = lastError ? `; last error: ${lastError.message ?? lastError}` : `; last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${seen}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for `ms` milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Sets a form control whatever its kind: a <select> (by value, else by label),
 * a checkbox (checked when `value` is true), or a text input / textarea.
 * @param {import("playwright-core").Locator} locator
 * @param {string | boolean} value
 */
export async function setField(locator, value) {
  const kind = await locator.evaluate((el) => `${el.tagName.toLowerCase()}:${el.getAttribute("type") ?? ""}`);
  if (kind.startsWith("select")) {
    const byValue = await locator.evaluate((el, v) => [...el.options].some((o) => o.value === v), String(value));
    if (byValue) await locator.selectOption({ value: String(value) });
    else await locator.selectOption({ label: String(value) });
  } else if (kind === "input:checkbox" || kind === "input:radio") {
    await locator.setChecked(Boolean(value));
  } else {
    await locator.fill(String(value));
  }
}

/**
 * Picks a value of a filter/sort control that is either a <select> or a
 * group of buttons (each named by data-value, value, or its text).
 * @param {import("playwright-core").Locator} control
 * @param {string} value
 */
export async function choose(control, value) {
  const tag = await control.evaluate((el) => el.tagName.toLowerCase());
  if (tag === "select") {
    await setField(control, value);
    return;
  }
  const buttons = control.locator("button, [role=tab], [role=radio], input[type=radio]");
  const n = await buttons.count();
  for (let i = 0; i < n; i++) {
    const b = buttons.nth(i);
    const name = await b.evaluate((el) =>
      [el.getAttribute("data-value"), el.getAttribute("value"), el.textContent?.trim()].filter(Boolean).map((s) => s.toLowerCase()),
    );
    if (name.some((s) => s === value || s.startsWith(`${value} `) || s.startsWith(`${value}(`))) {
      await b.click();
      return;
    }
  }
  throw new Error(`the control has no choice named ${value}`);
}

/** The log's scrolling element (the tallest scrollable element in log-view), found in the page. */
export const FIND_LOG_SCROLLER = `(() => {
  const root = document.querySelector('[data-testid="log-view"]');
  if (!root) return null;
  let best = null;
  for (const el of [root, ...root.querySelectorAll("*")]) {
    const s = getComputedStyle(el);
    if ((s.overflowY === "auto" || s.overflowY === "scroll") && el.scrollHeight > el.clientHeight + 1 &&
        (!best || el.scrollHeight > best.scrollHeight)) best = el;
  }
  return best;
})()`;

/**
 * The text of the log lines that are on screen now (inside the scroller's box).
 * @param {App} app
 * @returns {Promise<string[]>}
 */
export function visibleLogLines(app) {
  return app.page.evaluate(`(() => {
    const scroller = ${FIND_LOG_SCROLLER};
    const root = document.querySelector('[data-testid="log-view"]');
    if (!root) return [];
    const box = (scroller ?? root).getBoundingClientRect();
    const out = [];
    for (const el of root.querySelectorAll('[data-testid="log-line"]')) {
      const r = el.getBoundingClientRect();
      if (r.height > 0 && r.bottom > box.top + 1 && r.top < box.bottom - 1) out.push(el.textContent ?? "");
    }
    return out;
  })()`);
}

/** The step numbers ("step 0001234") of the log lines on screen. */
export async function visibleSteps(app) {
  const lines = await visibleLogLines(app);
  return lines.map((l) => /step (\d{7})/.exec(l)).filter(Boolean).map((m) => Number(m[1]));
}

/** "step 0001234", as the mock's log lines say it. */
export const step = (n) => `step ${String(n).padStart(7, "0")}`;

/**
 * Sets the log scroller's scrollTop (a fraction of the way down, 0–1) and waits two frames.
 * @param {App} app
 * @param {number} fraction
 */
export async function scrollLogTo(app, fraction) {
  await app.page.evaluate(`(async () => {
    const s = ${FIND_LOG_SCROLLER};
    if (!s) throw new Error("the log has no scrollable element");
    s.scrollTop = (s.scrollHeight - s.clientHeight) * ${fraction};
    s.dispatchEvent(new Event("scroll"));
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  })()`);
}

/**
 * Opens a task's detail from the Tasks screen by clicking its row's name.
 * @param {App} app
 * @param {string} id
 */
export async function openTask(app, id) {
  if ((await app.count("screen-tasks")) === 0) await app.go("tasks");
  const row = app.page.locator(`[data-testid="task-row"][data-task-id="${id}"]`);
  await row.waitFor();
  const name = await app.page.evaluate((tid) => window.__mock.status().tasks.concat(window.__mock.status().recent).find((t) => t.id === tid)?.name, id);
  await row.getByText(name, { exact: true }).first().click();
  await app.id("screen-task-detail").waitFor({ timeout: 5000 });
}
