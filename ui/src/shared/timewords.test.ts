import { describe, expect, it } from "vitest";
import { formatAgo, formatExact, spanWords } from "./timewords";

describe("time words", () => {
  const now = new Date(2026, 11, 6, 17, 50, 0).getTime();

  it("say how long ago, as short as is clear", () => {
    expect(formatAgo(now - 3_000, now)).toBe("just now");
    expect(formatAgo(now + 5_000, now)).toBe("just now");
    expect(formatAgo(now - 42_000, now)).toBe("42 s ago");
    expect(formatAgo(now - 5 * 60_000, now)).toBe("5 min ago");
    expect(formatAgo(now - 3 * 3_600_000, now)).toBe("3 h ago");
    expect(formatAgo(now - 3 * 86_400_000, now)).toBe("3 days ago");
  });

  it("give the exact local time", () => {
    expect(formatExact(new Date(2026, 0, 2, 3, 4, 5).getTime())).toBe("2026-01-02 03:04:05");
  });

  it("word a chart's window", () => {
    expect(spanWords(300)).toBe("5 minutes");
    expect(spanWords(60)).toBe("minute");
    expect(spanWords(3600)).toBe("hour");
    expect(spanWords(7200)).toBe("2 hours");
  });
});
