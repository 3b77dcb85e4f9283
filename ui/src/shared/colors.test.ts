import { describe, expect, it } from "vitest";
import { cssVar, withAlpha } from "./colors";

describe("colors", () => {
  it("makes hex and rgb colours see-through", () => {
    expect(withAlpha("#1d63ed", 0.2)).toBe("rgba(29, 99, 237, 0.2)");
    expect(withAlpha("#fff", 0.5)).toBe("rgba(255, 255, 255, 0.5)");
    expect(withAlpha(" rgb(1, 2, 3) ", 1)).toBe("rgba(1, 2, 3, 1)");
    expect(withAlpha("rgba(1 2 3 / 50%)", 0.1)).toBe("rgba(1, 2, 3, 0.1)");
  });

  it("leaves other forms alone", () => {
    expect(withAlpha("red", 0.3)).toBe("red");
  });

  it("falls back outside a page", () => {
    expect(cssVar("--accent", "#123456")).toBe("#123456");
  });
});
