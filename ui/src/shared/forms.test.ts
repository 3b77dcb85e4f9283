import { describe, expect, it } from "vitest";
import { formatLabels, gpusValue, parseEnv, parseLabels, sendsInClear } from "./forms";

describe("labels", () => {
  it("takes one per line or comma separated, trimmed, each once", () => {
    expect(parseLabels("gpu=a100, zone=eu\n\n  fast  \nzone=eu,")).toEqual(["gpu=a100", "zone=eu", "fast"]);
    expect(parseLabels("   ")).toEqual([]);
  });

  it("shows one per line", () => {
    expect(formatLabels(["a=1", "b"])).toBe("a=1\nb");
    expect(parseLabels(formatLabels(["a=1", "b"]))).toEqual(["a=1", "b"]);
  });
});

describe("env", () => {
  it("keeps NAME=value lines, values as typed", () => {
    expect(parseEnv("A=1\nB= two words \n\n# note\nC=x=y\r\nD=")).toEqual({
      env: ["A=1", "B= two words ", "C=x=y", "D="],
      errors: [],
    });
  });

  it("names the lines that are not NAME=value", () => {
    const { env, errors } = parseEnv("OK=1\nnot a pair\n1BAD=2\n=3");
    expect(env).toEqual(["OK=1"]);
    expect(errors.map((e) => e.split(":")[0])).toEqual(["Line 2", "Line 3", "Line 4"]);
  });
});

describe("gpus", () => {
  it("sends what the hub expects", () => {
    expect(gpusValue("none", "3")).toEqual({ value: "" });
    expect(gpusValue("all", "")).toEqual({ value: "all" });
    expect(gpusValue("count", " 02 ")).toEqual({ value: "2" });
    expect(gpusValue("indices", "0, 1 3,1")).toEqual({ value: "0,1,3" });
  });

  it("says what is wrong with a count or indices", () => {
    expect("error" in gpusValue("count", "0")).toBe(true);
    expect("error" in gpusValue("count", "two")).toBe(true);
    expect("error" in gpusValue("indices", "")).toBe(true);
    expect("error" in gpusValue("indices", "0,a")).toBe(true);
  });
});

describe("sendsInClear", () => {
  it("is plain http to another computer only", () => {
    expect(sendsInClear("http://10.0.0.2:8750")).toBe(true);
    expect(sendsInClear("http://hub.example.com")).toBe(true);
    expect(sendsInClear("http://[2001:db8::1]:8750")).toBe(true);
    expect(sendsInClear("https://10.0.0.2:8750")).toBe(false);
    expect(sendsInClear("http://127.0.0.1:8750")).toBe(false);
    expect(sendsInClear("http://127.1.2.3")).toBe(false);
    expect(sendsInClear("http://localhost:8750/")).toBe(false);
    expect(sendsInClear("http://[::1]:8750")).toBe(false);
    expect(sendsInClear("not an address")).toBe(false);
  });
});
