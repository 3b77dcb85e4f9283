import { describe, expect, it } from "vitest";
import { usableLocale } from "./locale";

describe("usableLocale", () => {
  it("keeps a tag Intl accepts", () => {
    expect(usableLocale("de-DE")).toBe("de-DE");
    expect(usableLocale("en")).toBe("en");
  });

  it("turns a POSIX locale into a tag", () => {
    expect(usableLocale("en_GB.UTF-8")).toBe("en-GB");
    expect(usableLocale("fr_FR@euro")).toBe("fr-FR");
  });

  it("falls back for the C locale and nonsense", () => {
    expect(usableLocale("C")).toBe("en-US");
    expect(usableLocale("C.UTF-8")).toBe("en-US");
    expect(usableLocale("")).toBe("en-US");
    expect(usableLocale(undefined)).toBe("en-US");
    expect(() => new Intl.NumberFormat(usableLocale("C"))).not.toThrow();
  });
});
