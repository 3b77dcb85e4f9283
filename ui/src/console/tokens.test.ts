import { describe, expect, it } from "vitest";
import { holders, nameProblem, revokeWarning } from "./tokens";

describe("holders", () => {
  it("puts tokens of one name together, newest creation and latest use", () => {
    const list = holders([
      { name: "zed", created_at: 5, last_used: null },
      { name: "alice", created_at: 1, last_used: 10 },
      { name: "alice", created_at: 3, last_used: null },
      { name: "alice", created_at: 2, last_used: 7 },
    ]);
    expect(list).toEqual([
      { name: "alice", count: 3, created_at: 3, last_used: 10 },
      { name: "zed", count: 1, created_at: 5, last_used: null },
    ]);
  });

  it("keeps never-used as null", () => {
    expect(holders([{ name: "a", created_at: 1, last_used: null }])[0].last_used).toBeNull();
    expect(holders([])).toEqual([]);
  });
});

describe("nameProblem", () => {
  it("wants a name without spaces around it", () => {
    expect(nameProblem("")).toMatch(/Give the token a name/);
    expect(nameProblem("  ")).toMatch(/Give the token a name/);
    expect(nameProblem(" ci")).toMatch(/space/);
    expect(nameProblem("ci")).toBeNull();
  });
});

describe("revokeWarning", () => {
  const one = { name: "ci", count: 1, created_at: 0, last_used: null };
  it("says sessions end and scripts stop", () => {
    const text = revokeWarning(one, "alice").join(" ");
    expect(text).toContain('the admin token "ci"');
    expect(text).toContain("sessions");
    expect(text).toContain("stop working");
    expect(text).not.toContain("signs you out");
  });

  it("warns when it is the token you signed in with", () => {
    expect(revokeWarning(one, "ci").join(" ")).toContain("signs you out");
  });

  it("counts several tokens of a name", () => {
    expect(revokeWarning({ ...one, count: 2 }, null)[0]).toContain('all 2 admin tokens named "ci"');
  });
});
