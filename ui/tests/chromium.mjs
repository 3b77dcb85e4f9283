// Debian's Chromium for every browser test and benchmark of ui/: where it
// is, and how it starts (headless, and quiet on a machine whose network is
// closed: without the background-networking flags it dials Google's hosts).

import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";

/** The browser: GANTRY_CHROMIUM, else /usr/bin/chromium, else chromium on PATH. */
export function findChromium() {
  const named = process.env.GANTRY_CHROMIUM;
  if (named) {
    if (!existsSync(named)) throw new Error(`GANTRY_CHROMIUM names ${named}, which does not exist`);
    return named;
  }
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of ["chromium", "chromium-browser"]) {
      const p = join(dir, name);
      if (dir && existsSync(p)) return p;
    }
  }
  throw new Error("no Chromium found: install Debian's chromium package (apt-get install chromium) or set GANTRY_CHROMIUM");
}

/** The flags every test starts it with. */
export const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-extensions",
  "--disable-component-update",
  "--no-first-run",
  "--mute-audio",
  "--disable-features=Translate,MediaRouter,OptimizationHints",
  // Keep timers and frames running at full rate in a page nobody looks at.
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
];

/** Starts the browser through playwright-core (which never downloads one). */
export async function launchChromium() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: findChromium(), headless: true, args: CHROMIUM_ARGS });
}
