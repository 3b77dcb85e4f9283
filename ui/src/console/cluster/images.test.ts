import { describe, expect, it } from "vitest";
import { imagePolicyText } from "./images";

describe("imagePolicyText", () => {
  it("says any image when the node sent none", () => {
    expect(imagePolicyText(undefined)).toBe("Any image");
    expect(imagePolicyText(null)).toBe("Any image");
    expect(imagePolicyText({})).toBe("Any image");
  });

  it("names the patterns and the pinning", () => {
    expect(imagePolicyText({ allowed: ["registry.example.com/**", "nvidia/*"] })).toBe(
      "Only registry.example.com/**, nvidia/*",
    );
    expect(imagePolicyText({ pinned_only: true })).toBe("Only images pinned by digest");
    expect(imagePolicyText({ allowed: ["busybox"], pinned_only: true })).toBe("Only busybox, pinned by digest");
  });
});
