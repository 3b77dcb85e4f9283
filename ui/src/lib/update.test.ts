import { describe, expect, it } from "vitest";
import type { UpdateState } from "../bindings";
import { checkLine, progressText, updatesOn } from "./update";

const now = new Date(2026, 4, 2, 15, 0).getTime();
const at = new Date(2026, 4, 2, 9, 5).getTime();

const state = (over: Partial<UpdateState>): UpdateState => ({
  current_version: "0.1.0",
  has_key: true,
  endpoint: "https://updates.example.com/latest.json",
  endpoint_locked: false,
  last_check: null,
  available: null,
  installing: false,
  ...over,
});

describe("check line", () => {
  it("says why there are no checks", () => {
    const noKey = state({ has_key: false });
    expect(updatesOn(noKey)).toBe(false);
    expect(checkLine(noKey, now)).toBe("Updates are off in this build.");
    const off = state({ endpoint: null });
    expect(updatesOn(off)).toBe(false);
    expect(checkLine(off, now)).toMatch(/^Updates are off/);
    expect(updatesOn(state({}))).toBe(true);
    expect(checkLine(state({}), now)).toBe("Not checked yet.");
  });

  it("says what the last check found, and when", () => {
    expect(checkLine(state({ last_check: { at_ms: at, error: null } }), now)).toBe("Gantry 0.1.0 is up to date (checked 09:05).");
    expect(
      checkLine(
        state({ last_check: { at_ms: at, error: null }, available: { version: "0.2.0", notes: null, published_ms: null } }),
        now,
      ),
    ).toBe("Gantry 0.2.0 is available (checked 09:05).");
    expect(checkLine(state({ last_check: { at_ms: at, error: "The update server cannot be reached." } }), now)).toBe(
      "The last check failed (09:05).",
    );
  });
});

describe("progress", () => {
  it("counts bytes of the total, when the server gives one", () => {
    expect(progressText({ step: "downloading", done_bytes: 12_300_000, total_bytes: 45_600_000 })).toBe(
      "Downloading: 12.3 MB of 45.6 MB",
    );
    expect(progressText({ step: "downloading", done_bytes: 2_000, total_bytes: null })).toBe("Downloading: 2 kB");
    expect(progressText({ step: "installing", done_bytes: 1, total_bytes: 1 })).toMatch(/verified/);
    expect(progressText({ step: "restarting", done_bytes: 0, total_bytes: null })).toMatch(/restarts/);
  });
});
