import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

// Built to ui/dist, which src-tauri's tauri.conf.json names as frontendDist.
// The webview's CSP allows only 'self' scripts: Vite's module script is fine,
// and nothing is loaded from the network.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // The webviews: WebView2 (Chromium) on Windows, WebKit on macOS and Linux.
    target: ["es2022", "chrome111", "safari16"],
    // No inline data: URLs for scripts or fonts; tiny assets may inline as data: images (allowed by img-src).
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
