import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

// The hub's web console, built to ui/dist-console and compiled into the
// `gantry` binary (crates/hub's build script). Served under a strict CSP:
// scripts and styles only from 'self', nothing from the network.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  server: { port: 5174, strictPort: true },
  build: {
    outDir: "dist-console",
    emptyOutDir: true,
    target: ["es2022", "chrome111", "safari16", "firefox115"],
    assetsInlineLimit: 0,
    sourcemap: false,
    rollupOptions: { input: "console.html" },
  },
});
