import { describe, expect, it } from "vitest";
import { exactTime, relativeTime } from "./time";

const now = new Date(2026, 11, 6, 17, 51, 4).getTime();
const MIN = 60_000;

describe("relativeTime", () => {
  it("says never for no time", () => {
    expect(relativeTime(null, now)).toBe("never");
    expect(relativeTime(null, now, "not yet")).toBe("not yet");
  });

  it("counts minutes, hours and days", () => {
    expect(relativeTime(now - 10_000, now)).toBe("just now");
    expect(relativeTime(now + 5_000, now)).toBe("just now");
    expect(relativeTime(now - MIN, now)).toBe("1 min ago");
    expect(relativeTime(now - 59 * MIN, now)).toBe("59 min ago");
    expect(relativeTime(now - 60 * MIN, now)).toBe("1 hour ago");
    expect(relativeTime(now - 23 * 60 * MIN - 59 * MIN, now)).toBe("23 hours ago");
    expect(relativeTime(now - 24 * 60 * MIN, now)).toBe("1 day ago");
    expect(relativeTime(now - 400 * 24 * 60 * MIN, now)).toBe("400 days ago");
  });
});

describe("exactTime", () => {
  it("writes the local date and time to the second", () => {
    expect(exactTime(now)).toBe("2026-12-06 17:51:04");
    expect(exactTime(new Date(2027, 0, 2, 3, 4, 5).getTime())).toBe("2027-01-02 03:04:05");
  });
});
