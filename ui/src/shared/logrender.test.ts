import { describe, expect, it } from "vitest";
import { initialState, parseAnsi } from "./ansi";
import { splitPieces } from "./logrender";
import { compileQuery, findMatches } from "./logsearch";

describe("splitPieces", () => {
  it("leaves segments alone without matches", () => {
    const segs = parseAnsi("\x1b[31mred\x1b[0m plain", initialState());
    expect(splitPieces(segs, [])).toEqual([
      { text: "red", classes: "ansi-fg-1", match: -1 },
      { text: " plain", classes: "", match: -1 },
    ]);
  });

  it("cuts at match edges, one match across two styles staying one match", () => {
    const segs = parseAnsi("ab\x1b[32mcd\x1b[0mef", initialState());
    const re = compileQuery("bcd") as RegExp;
    const plain = segs.map((s) => s.text).join("");
    const matches = findMatches(re, plain);
    expect(matches).toEqual([[1, 4]]);
    expect(splitPieces(segs, matches)).toEqual([
      { text: "a", classes: "", match: -1 },
      { text: "b", classes: "", match: 0 },
      { text: "cd", classes: "ansi-fg-2", match: 0 },
      { text: "ef", classes: "", match: -1 },
    ]);
  });

  it("handles matches at both ends and next to each other", () => {
    const segs = [{ text: "aaXbb", classes: "" }];
    expect(
      splitPieces(segs, [
        [0, 2],
        [2, 3],
        [4, 5],
      ]),
    ).toEqual([
      { text: "aa", classes: "", match: 0 },
      { text: "X", classes: "", match: 1 },
      { text: "b", classes: "", match: -1 },
      { text: "b", classes: "", match: 2 },
    ]);
    // The pieces' text is always the line's text.
    const text = splitPieces(segs, [[1, 4]])
      .map((p) => p.text)
      .join("");
    expect(text).toBe("aaXbb");
  });
});
