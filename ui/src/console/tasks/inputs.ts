// Files chosen in the browser become the job's `inputs:` entries
// (`<sha256>: <path in the task folder>`), merged into the job's text
// without a YAML library: the person's text stays as written (comments,
// order, quoting) and only the entries are added.
//
// JSON (a text starting with `{`) is parsed and written back. YAML: a
// top-level `inputs:` block map gets the entries appended under it with the
// indentation its entries use; `inputs: {…}` on one line gets them inside
// the braces; `inputs:` with nothing (or `~`, `null`) becomes a block; no
// `inputs:` key adds one at the end. Paths are written double-quoted (JSON
// string syntax, which YAML reads the same), so any name is safe.

/** One chosen file as it goes into the job. */
export type InputEntry = { sha256: string; path: string };

export type Merged = { text: string } | { error: string };

const TOP_INPUTS = /^inputs[ \t]*:(.*)$/;

/** Adds `entries` to the job's `inputs:`; an error sentence when they cannot go in. */
export function mergeInputs(job: string, entries: readonly InputEntry[]): Merged {
  if (entries.length === 0) return { text: job };
  const problem = checkEntries(entries);
  if (problem !== null) return { error: problem };
  return job.trimStart().startsWith("{") ? mergeJson(job, entries) : mergeYaml(job, entries);
}

function checkEntries(entries: readonly InputEntry[]): string | null {
  const bySha = new Map<string, string>();
  const paths = new Set<string>();
  for (const { sha256, path } of entries) {
    if (path.trim() === "") return "Give each file a path in the task folder.";
    const same = bySha.get(sha256);
    if (same !== undefined) {
      return `"${same}" and "${path}" have the same content; a job names each input's content once, so choose one of them.`;
    }
    if (paths.has(path)) return `Two files would both go to "${path}"; give each its own path.`;
    bySha.set(sha256, path);
    paths.add(path);
  }
  return null;
}

function mergeJson(job: string, entries: readonly InputEntry[]): Merged {
  let value: unknown;
  try {
    value = JSON.parse(job);
  } catch {
    return { error: "The job is not valid JSON; fix it before adding files." };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: "The job must be a JSON object to take input files." };
  }
  const spec = value as Record<string, unknown>;
  const inputs = spec.inputs;
  if (inputs !== undefined && inputs !== null && (typeof inputs !== "object" || Array.isArray(inputs))) {
    return { error: "The job's inputs must be a map of sha256 to path to take input files." };
  }
  const merged: Record<string, unknown> = { ...((inputs as Record<string, unknown> | null | undefined) ?? {}) };
  for (const { sha256, path } of entries) {
    if (sha256 in merged) return { error: `The job's inputs already hold ${sha256}; remove it or the file.` };
    merged[sha256] = path;
  }
  spec.inputs = merged;
  return { text: JSON.stringify(spec, null, 2) };
}

const quote = (path: string) => JSON.stringify(path);
const entryText = (e: InputEntry) => `${e.sha256}: ${quote(e.path)}`;

function mergeYaml(job: string, entries: readonly InputEntry[]): Merged {
  const eol = job.includes("\r\n") ? "\r\n" : "\n";
  const lines = job.split(/\r?\n/);
  const at = lines.findIndex((line) => TOP_INPUTS.test(line));
  for (const { sha256 } of entries) {
    if (at >= 0 && new RegExp(`^\\s*["']?${sha256}["']?\\s*:`).test(block(lines, at).join("\n"))) {
      return { error: `The job's inputs already hold ${sha256}; remove it or the file.` };
    }
  }
  if (at < 0) {
    // No inputs yet: a new block at the end (after the last non-blank line).
    let end = lines.length;
    while (end > 0 && lines[end - 1].trim() === "") end--;
    const out = [...lines.slice(0, end), "inputs:", ...entries.map((e) => `  ${entryText(e)}`)];
    return { text: out.join(eol) + eol };
  }
  const rest = stripComment(TOP_INPUTS.exec(lines[at])![1]).trim();
  if (rest === "" || rest === "~" || rest === "null" || rest === "{}") {
    const body = block(lines, at);
    const indent = body.map(indentOf).find((n) => n > 0) ?? 2;
    let last = at + body.length;
    // Trailing blank or comment-only lines of the block stay after the new entries.
    while (last > at && (lines[last].trim() === "" || lines[last].trim().startsWith("#"))) last--;
    const head = rest === "" ? lines[at] : "inputs:";
    const added = entries.map((e) => `${" ".repeat(indent)}${entryText(e)}`);
    const out = [...lines.slice(0, at), head, ...lines.slice(at + 1, last + 1), ...added, ...lines.slice(last + 1)];
    return { text: out.join(eol) };
  }
  const flow = /^\{(.*)\}$/.exec(rest);
  if (flow !== null) {
    const inner = flow[1].trim();
    const added = entries.map(entryText).join(", ");
    lines[at] = `inputs: {${inner === "" ? added : `${inner}, ${added}`}}`;
    return { text: lines.join(eol) };
  }
  return { error: "The job's inputs: is not a map of sha256 to path; fix it before adding files." };
}

/** The lines after line `at` that belong to its block: indented, blank or comments, up to the next top-level line. */
function block(lines: readonly string[], at: number): string[] {
  const out: string[] = [];
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() !== "" && indentOf(line) === 0 && !line.startsWith("#")) break;
    out.push(line);
  }
  return out;
}

const indentOf = (line: string): number => (line.trim() === "" ? 0 : line.length - line.trimStart().length);

/** The text before a `#` comment (a `#` after a space or at the start; quotes are not looked into). */
function stripComment(text: string): string {
  const m = /(^|\s)#/.exec(text);
  return m === null ? text : text.slice(0, m.index);
}
