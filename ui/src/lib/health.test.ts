import { describe, expect, it } from "vitest";
import type { HealthCheck } from "../bindings";
import { healthItems, healthSummary } from "./health";

const check = (name: string, status: HealthCheck["status"], fix = ""): HealthCheck => ({
  name,
  status,
  message: `${name} said`,
  fix,
});

describe("health rows", () => {
  it("are one row per check, named for its testid, ready only when ok", () => {
    const items = healthItems([
      check("docker", "ok"),
      check("clock", "warning", "sync the clock"),
      check("control-socket", "failure", "start the agent"),
      check("something-new", "ok"),
    ]);
    expect(items.map((i) => i.testid)).toEqual([
      "health-docker",
      "health-clock",
      "health-control-socket",
      "health-something-new",
    ]);
    expect(items.map((i) => i.label)).toEqual(["Docker", "Clock", "Agent", "something-new"]);
    expect(items.map((i) => i.check.ok)).toEqual([true, false, false, true]);
    expect(items[0].check.guidance).toBeNull();
    expect(items[1].check.guidance).toBe("sync the clock");
    expect(items[2].status).toBe("failure");
  });

  it("sum up what fails and warns", () => {
    expect(healthSummary([check("a", "ok"), check("b", "ok")])).toBe("All 2 checks pass");
    expect(healthSummary([check("a", "failure"), check("b", "warning"), check("c", "warning")])).toBe(
      "1 failing, 2 with a warning of 3 checks",
    );
  });
});
