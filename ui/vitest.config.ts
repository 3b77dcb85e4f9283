import { defineConfig } from "vitest/config";

// The tests are of pure TypeScript modules: no browser, no Svelte plugin.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
