import { describe, expect, it } from "vitest";
import { EMPTY_FORM, formJob, splitCommand } from "./jobform";
import { gutterText, lineCount, offsetOf, placeText } from "./editor";

describe("splitCommand (as the protocol's split_command)", () => {
  it("splits words, quotes and backslashes", () => {
    expect(splitCommand(`python -c "print('a b')"  x\\ y 'it''s' "q\\"\\n"`)).toEqual({
      words: ["python", "-c", "print('a b')", "x y", "its", 'q"\\n'],
    });
    expect(splitCommand("   ")).toEqual({ words: [] });
    expect(splitCommand(`a "" b`)).toEqual({ words: ["a", "", "b"] });
  });

  it("says which quote is left open", () => {
    expect(splitCommand("echo 'x")).toEqual({ error: "the command has a ' without its closing '" });
    expect(splitCommand('echo "x')).toEqual({ error: 'the command has a " without its closing "' });
    expect(splitCommand('echo "x\\')).toEqual({ error: 'the command ends inside a "…"' });
  });
});

describe("formJob", () => {
  it("makes a JSON job of the form", () => {
    const r = formJob({
      ...EMPTY_FORM,
      name: " train ",
      image: " python:3.12 ",
      command: "python -c 'print(42)'",
      env: "A=1\n# skip\nB=x=y",
      gpuChoice: "indices",
      gpuText: "0, 1",
      labels: "gpu, a100\ngpu",
      node: " box ",
    });
    expect("text" in r && JSON.parse(r.text)).toEqual({
      name: "train",
      image: "python:3.12",
      command: ["python", "-c", "print(42)"],
      env: { A: "1", B: "x=y" },
      resources: { gpus: [0, 1] },
      labels: ["gpu", "a100"],
      node: "box",
    });
  });

  it("writes a GPU count as a number and all as all; leaves empty fields out", () => {
    const count = formJob({ ...EMPTY_FORM, image: "x", gpuChoice: "count", gpuText: "2" });
    expect("text" in count && JSON.parse(count.text)).toEqual({ image: "x", resources: { gpus: 2 } });
    const all = formJob({ ...EMPTY_FORM, image: "x", gpuChoice: "all" });
    expect("text" in all && JSON.parse(all.text)).toEqual({ image: "x", resources: { gpus: "all" } });
  });

  it("names every field to fix", () => {
    const r = formJob({ ...EMPTY_FORM, command: "echo 'x", env: "not a var", gpuChoice: "count", gpuText: "0" });
    expect("errors" in r && r.errors).toHaveLength(4);
  });
});

describe("the editor's helpers", () => {
  const text = "a: 1\nbb: 22\n\nlast";
  it("finds a line and column, clamped", () => {
    expect(offsetOf(text, 1)).toBe(0);
    expect(offsetOf(text, 2, 4)).toBe(8);
    expect(offsetOf(text, 2, 99)).toBe(11);
    expect(offsetOf(text, 4)).toBe(13);
    expect(offsetOf(text, 9)).toBe(text.length);
  });
  it("counts lines for the gutter", () => {
    expect(lineCount("")).toBe(1);
    expect(lineCount(text)).toBe(4);
    expect(gutterText(3)).toBe("1\n2\n3");
    expect(placeText(3, 7)).toBe("line 3, column 7");
    expect(placeText(3, null)).toBe("line 3");
    expect(placeText(null, null)).toBe("");
  });
});
