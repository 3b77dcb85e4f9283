import { describe, expect, it } from "vitest";
import { mergeInputs } from "./inputs";

const A = "a".repeat(64);
const B = "b".repeat(64);

describe("mergeInputs", () => {
  it("adds an inputs: block when the job has none", () => {
    const r = mergeInputs("image: busybox\ncommand: [cat, data.csv]\n\n", [{ sha256: A, path: "data.csv" }]);
    expect(r).toEqual({ text: `image: busybox\ncommand: [cat, data.csv]\ninputs:\n  ${A}: "data.csv"\n` });
  });

  it("appends under an existing block with its indentation, before the next key and trailing comments", () => {
    const job = `image: x\ninputs:\n    ${B}: old.bin\n    # more later\n\noutputs: [out]\n`;
    const r = mergeInputs(job, [{ sha256: A, path: "dir/new file.txt" }]);
    expect(r).toEqual({
      text: `image: x\ninputs:\n    ${B}: old.bin\n    ${A}: "dir/new file.txt"\n    # more later\n\noutputs: [out]\n`,
    });
  });

  it("fills an empty inputs:, inputs: ~ and inputs: {}", () => {
    for (const empty of ["inputs:", "inputs: ~", "inputs: {}", "inputs:   # none yet"]) {
      const r = mergeInputs(`image: x\n${empty}\nlabels: [gpu]`, [{ sha256: A, path: "a" }]);
      expect("text" in r && r.text).toMatch(new RegExp(`^image: x\\ninputs:.*\\n  ${A}: "a"\\nlabels: \\[gpu\\]$`));
    }
  });

  it("adds inside a one-line flow map", () => {
    const r = mergeInputs(`image: x\ninputs: {${B}: b}\n`, [
      { sha256: A, path: "a" },
      { sha256: "c".repeat(64), path: 'we"ird: #name' },
    ]);
    expect(r).toEqual({ text: `image: x\ninputs: {${B}: b, ${A}: "a", ${"c".repeat(64)}: "we\\"ird: #name"}\n` });
  });

  it("keeps CRLF line ends", () => {
    const r = mergeInputs("image: x\r\nname: y\r\n", [{ sha256: A, path: "a" }]);
    expect(r).toEqual({ text: `image: x\r\nname: y\r\ninputs:\r\n  ${A}: "a"\r\n` });
  });

  it("does not take an indented inputs: (a service's) for the job's", () => {
    const job = "image: x\nservices:\n  - name: db\n    inputs:\n      foo: bar\n";
    const r = mergeInputs(job, [{ sha256: A, path: "a" }]);
    expect(r).toEqual({ text: `${job}inputs:\n  ${A}: "a"\n` });
  });

  it("merges into JSON jobs", () => {
    const r = mergeInputs(`{"image": "x", "inputs": {"${B}": "b"}}`, [{ sha256: A, path: "a" }]);
    expect("text" in r && JSON.parse(r.text)).toEqual({ image: "x", inputs: { [B]: "b", [A]: "a" } });
    const fresh = mergeInputs(`{"image": "x"}`, [{ sha256: A, path: "a" }]);
    expect("text" in fresh && JSON.parse(fresh.text)).toEqual({ image: "x", inputs: { [A]: "a" } });
    expect(mergeInputs(`{"image": `, [{ sha256: A, path: "a" }])).toHaveProperty("error");
    expect(mergeInputs(`{"inputs": ["x"]}`, [{ sha256: A, path: "a" }])).toHaveProperty("error");
  });

  it("refuses what the job's map cannot hold, with a sentence", () => {
    const same = mergeInputs("image: x", [
      { sha256: A, path: "one" },
      { sha256: A, path: "two" },
    ]);
    expect(same).toEqual({
      error: '"one" and "two" have the same content; a job names each input\'s content once, so choose one of them.',
    });
    expect(mergeInputs("image: x", [{ sha256: A, path: " " }])).toHaveProperty("error");
    expect(
      mergeInputs("image: x", [
        { sha256: A, path: "p" },
        { sha256: B, path: "p" },
      ]),
    ).toHaveProperty("error");
    expect(mergeInputs(`image: x\ninputs:\n  ${A}: there\n`, [{ sha256: A, path: "a" }])).toHaveProperty("error");
    expect(mergeInputs("image: x\ninputs: [a, b]\n", [{ sha256: A, path: "a" }])).toHaveProperty("error");
  });

  it("leaves the text alone without files", () => {
    expect(mergeInputs("anything: [", [])).toEqual({ text: "anything: [" });
  });
});
