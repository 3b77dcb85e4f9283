// The job editor's text helpers: where a line:column is in the text (to
// put the caret on a problem), and the gutter's line numbers.

/** The index in `text` of line `line`, column `column` (both from 1), clamped to the text. */
export function offsetOf(text: string, line: number, column = 1): number {
  let at = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", at);
    if (nl < 0) return text.length;
    at = nl + 1;
  }
  const end = text.indexOf("\n", at);
  const lineEnd = end < 0 ? text.length : end;
  return Math.min(lineEnd, at + Math.max(0, column - 1));
}

/** How many lines the text has (an empty text has one). */
export function lineCount(text: string): number {
  let n = 1;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** The gutter's text: 1 to `lines`, one per line. */
export function gutterText(lines: number): string {
  let s = "";
  for (let i = 1; i <= lines; i++) s += i === 1 ? "1" : `\n${i}`;
  return s;
}

/** Where a problem is, in words: "line 3, column 7", "line 3", or "" when the hub did not say. */
export function placeText(line: number | null, column: number | null): string {
  if (line === null) return "";
  return column === null ? `line ${line}` : `line ${line}, column ${column}`;
}

/** The job the editor starts with: small, and runnable as it is. */
export const EXAMPLE_JOB = `# A job file: the hub checks it as you type.
name: hello
image: busybox:1.36
command: [sh, -c, "echo hello from $(hostname); ls -l"]
# Files chosen below are added as inputs (sha256: path in the task folder).
`;
