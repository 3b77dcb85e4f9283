// Builds the Cluster page's check harness (cluster.html); cluster.mjs builds
// it into a temporary folder and serves it behind the console's CSP.
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
    // cluster.mjs passes the real outDir (a temporary folder).
    outDir: "/tmp/gantry-console-cluster-harness",
    emptyOutDir: true,
    target: "es2022",
    assetsInlineLimit: 0,
    minify: false,
    sourcemap: true,
    rolldownOptions: { input: `${here}cluster.html`, checks: { pluginTimings: false } },
  },
});
