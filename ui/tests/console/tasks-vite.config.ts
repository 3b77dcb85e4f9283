// Builds the console pages' browser-check harness (tests/console/harness.html).
import { fileURLToPath } from "node:url";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));
const ui = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig({
  root: here,
  base: "/",
  publicDir: false,
  logLevel: "warn",
  clearScreen: false,
  plugins: [svelte({ configFile: `${ui}svelte.config.js` })],
  build: {
    outDir: "/tmp/gantry-console-harness", // tasks.mjs passes a temporary folder
    emptyOutDir: true,
    target: "es2022",
    assetsInlineLimit: 0,
    minify: false,
    sourcemap: true,
    rolldownOptions: { input: `${here}harness.html`, checks: { pluginTimings: false } },
  },
});
