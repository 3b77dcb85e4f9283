import { describe, expect, it } from "vitest";
import { errorText, isSessionEnd } from "./errors";
import { HubError } from "./hub";

describe("isSessionEnd", () => {
  it("is a 401 from the hub only", () => {
    expect(isSessionEnd(new HubError(401, "unauthorized", "x"))).toBe(true);
    expect(isSessionEnd(new HubError(401, "token_revoked", "x"))).toBe(true);
    expect(isSessionEnd(new HubError(403, "csrf_refused", "x"))).toBe(false);
    expect(isSessionEnd(new Error("401"))).toBe(false);
    expect(isSessionEnd(null)).toBe(false);
  });
});

describe("errorText", () => {
  it("gives the hub's sentence, or says the hub did not answer", () => {
    expect(errorText(new HubError(404, "not_found", "no node is named x"))).toBe("no node is named x");
    expect(errorText(new TypeError("Failed to fetch"))).toMatch(/^The hub did not answer \(Failed to fetch\)/);
    expect(errorText(new Error("boom"))).toBe("boom");
    expect(errorText("odd")).toBe("odd");
  });
});
