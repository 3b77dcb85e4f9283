import { describe, expect, it } from "vitest";
import { mondayMidnight } from "./week";

describe("this week's start", () => {
  it("is Monday 00:00 local time, whatever the day", () => {
    // Monday 7 December 2026, 15:30 local.
    expect(mondayMidnight(new Date(2026, 11, 7, 15, 30))).toBe(new Date(2026, 11, 7).getTime());
    // Sunday 13 December: still the week of the 7th.
    expect(mondayMidnight(new Date(2026, 11, 13, 23, 59))).toBe(new Date(2026, 11, 7).getTime());
    // Monday 00:00 itself.
    expect(mondayMidnight(new Date(2026, 11, 14))).toBe(new Date(2026, 11, 14).getTime());
    // Across a month's end: Thursday 1 January 2027 → Monday 28 December 2026.
    expect(mondayMidnight(new Date(2027, 0, 1, 9))).toBe(new Date(2026, 11, 28).getTime());
  });
});
