#!/usr/bin/env node
// Runs the UI's browser tests: type-checks and builds the harness (harness.html: the real App
// over a mocked backend) with Vite into a temporary folder, serves it on a free
// port of 127.0.0.1, starts Debian's Chromium once through playwright-core, runs
// every test in specs/ one at a time (each in a fresh browser context), closes
// everything and exits 1 when a test failed.
//
//   npm run test:browser                    # all tests
//   npm run test:browser -- storage log     # tests whose name contains a word
//   npm run test:browser -- --screenshots   # also write docs/screenshots/*.png
//
// Environment: GANTRY_CHROMIUM (the browser; default /usr/bin/chromium, then
// chromium on PATH), GANTRY_UI_SCREENSHOTS (a folder for the screenshots;
// --screenshots means <repo>/docs/screenshots), GANTRY_UI_TEST_TIMEOUT_SCALE
// (multiplies every test's time limit, for slow machines).

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { CHROMIUM_ARGS, findChromium } from "../chromium.mjs";
import { TestContext, tests } from "./lib.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const ui = resolve(here, "../..");
const repo = resolve(ui, "..");

const argv = process.argv.slice(2);
const wantShots = argv.includes("--screenshots");
const filters = argv.filter((a) => !a.startsWith("--")).map((a) => a.toLowerCase());
const shotsDir = process.env.GANTRY_UI_SCREENSHOTS || (wantShots ? join(repo, "docs", "screenshots") : null);
const scale = Number(process.env.GANTRY_UI_TEST_TIMEOUT_SCALE ?? "1") || 1;


const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

/** A static file server for `root` on a free port of 127.0.0.1. */
function serve(root) {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = normalize(join(root, decodeURIComponent(url.pathname)));
    if (!path.startsWith(root + sep) || !existsSync(path) || !statSync(path).isFile()) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(readFileSync(path));
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      ok({ server, url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}` });
    });
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, fail) => {
      timer = setTimeout(() => fail(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function main() {
  const started = Date.now();
  const executablePath = findChromium();
  const work = mkdtempSync(join(tmpdir(), "gantry-ui-browser-"));
  const outDir = join(work, "harness");
  const failDir = join(work, "failures");
  // Stopped from outside (Ctrl-C, xtask's SIGTERM): playwright-core ends the
  // browser as the process exits; the temporary folder goes here.
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  }
  let server;
  let browser;
  let failed = 0;
  let passed = 0;
  try {
    // 0. Type-check the harness and the mock against src/bindings.
    const tsc = spawnSync(process.execPath, [join(ui, "node_modules", "typescript", "bin", "tsc"), "-p", here], { stdio: "inherit" });
    if (tsc.status !== 0) throw new Error("the harness or the mock backend does not type-check (tsc -p tests/browser)");

    // 1. Build the harness.
    const { build } = await import("vite");
    await build({
      configFile: join(here, "vite.config.ts"),
      logLevel: "warn",
      build: { outDir, emptyOutDir: true },
    });
    console.log(`browser tests: harness built in ${Date.now() - started} ms`);

    // 2. Serve it.
    const served = await serve(outDir);
    server = served.server;

    // 3. Load the tests.
    const specs = readdirSync(join(here, "specs")).filter((f) => f.endsWith(".mjs")).sort();
    for (const f of specs) await import(pathToFileURL(join(here, "specs", f)).href);
    const chosen = tests.filter((t) => filters.length === 0 || filters.some((w) => t.name.toLowerCase().includes(w)));
    if (chosen.length === 0) throw new Error(`no test matches ${filters.join(" ")}`);

    // 4. One browser for all of them.
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    console.log(`browser tests: ${browser.browserType().name()} ${browser.version()} (${executablePath}), serving ${served.url}`);
    if (shotsDir) console.log(`browser tests: screenshots go to ${shotsDir}`);

    // 5. Run them, one at a time.
    for (const t of chosen) {
      const ctx = new TestContext({ browser, baseUrl: served.url, shotsDir, failDir, name: t.name });
      const t0 = Date.now();
      let error = null;
      try {
        await withTimeout(t.fn(ctx), t.timeout * scale, "the test");
        const problems = await ctx.problems();
        if (problems.length > 0) error = new Error(`the page reported problems:\n    ${problems.join("\n    ")}`);
      } catch (e) {
        error = e;
      }
      const ms = Date.now() - t0;
      if (error) {
        failed += 1;
        const shots = await ctx.saveFailureShots();
        const problems = await ctx.problems().catch(() => []);
        console.log(`FAIL ${t.name} (${ms} ms)`);
        console.log(`    ${String(error.stack ?? error).split("\n").join("\n    ")}`);
        for (const p of problems) if (!String(error.message).includes(p)) console.log(`    also: ${p}`);
        for (const s of shots) console.log(`    screenshot: ${s}`);
      } else {
        passed += 1;
        console.log(`ok   ${t.name} (${ms} ms)`);
      }
      for (const f of ctx.figures) console.log(`       ${f}`);
      await ctx.close();
    }
  } finally {
    await browser?.close().catch(() => {});
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(() => r()) : r()));
    // The failure screenshots stay for a look; the rest goes.
    rmSync(failed === 0 ? work : outDir, { recursive: true, force: true });
  }
  console.log(
    `browser tests: ${passed} passed, ${failed} failed, in ${((Date.now() - started) / 1000).toFixed(1)} s` +
      (failed ? ` (failure screenshots under ${failDir})` : ""),
  );
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`browser tests could not run: ${e.stack ?? e}`);
    process.exit(1);
  },
);
