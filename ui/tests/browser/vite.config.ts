// Builds the browser-test harness (tests/browser/harness.html), which mounts
// the real App over a mocked Tauri backend. run.mjs builds it into a
// temporary folder; the app's own vite.config.ts and ui/dist are untouched.
import { fileURLToPath } from "node:url";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));
const ui = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig({
  root: here,
  // Paths in the built page are relative, so the static server can serve it from anywhere.
  base: "./",
  publicDir: false,
  logLevel: "warn",
  clearScreen: false,
  plugins: [svelte({ configFile: `${ui}svelte.config.js` })],
  build: {
    // run.mjs passes the real outDir; this is only the default for a manual build.
    outDir: `${ui}node_modules/.cache/gantry-browser-harness`,
    emptyOutDir: true,
    // Debian's Chromium is current: no down-levelling needed.
    target: "es2022",
    assetsInlineLimit: 0,
    // Readable stacks in failure reports.
    minify: false,
    sourcemap: true,
    rolldownOptions: {
      input: `${here}harness.html`,
      // The Svelte compiler's share of the build time is no news here.
      checks: { pluginTimings: false },
    },
  },
});
