// What the Settings and New task forms send, parsed from what was typed.

/** Labels typed one per line or comma separated: trimmed, blanks dropped, each once. */
export function parseLabels(text: string): string[] {
  const seen = new Set<string>();
  for (const part of text.split(/[\n,]/)) {
    const label = part.trim();
    if (label !== "") seen.add(label);
  }
  return [...seen];
}

/** Labels as the field shows them: one per line. */
export function formatLabels(labels: readonly string[]): string {
  return labels.join("\n");
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Environment variables typed `NAME=value`, one per line. Blank lines and
 * lines starting with `#` are skipped; the value is kept as typed (spaces,
 * `=` and all). Lines that are not `NAME=value` are named in `errors`.
 */
export function parseEnv(text: string): { env: string[]; errors: string[] } {
  const env: string[] = [];
  const errors: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const eq = line.indexOf("=");
    const name = eq < 0 ? trimmed : line.slice(0, eq).trim();
    if (eq < 0 || !ENV_NAME.test(name)) {
      errors.push(`Line ${i + 1}: write NAME=value (a name of letters, digits and _).`);
      return;
    }
    env.push(`${name}=${line.slice(eq + 1)}`);
  });
  return { env, errors };
}

export type GpuChoice = "none" | "all" | "count" | "indices";

/**
 * The `gpus` field of a new task: "" for none, "all", a count ("2") or
 * indices ("0,1"). `text` is the count or the indices as typed.
 */
export function gpusValue(choice: GpuChoice, text: string): { value: string } | { error: string } {
  const t = text.trim();
  switch (choice) {
    case "none":
      return { value: "" };
    case "all":
      return { value: "all" };
    case "count":
      if (!/^\d+$/.test(t) || Number(t) < 1) return { error: "Give how many GPUs: a whole number, 1 or more." };
      return { value: String(Number(t)) };
    case "indices": {
      const parts = t.split(/[\s,]+/).filter((p) => p !== "");
      if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
        return { error: "Give the GPUs' numbers separated by commas, e.g. 0,1." };
      }
      return { value: [...new Set(parts.map(Number))].join(",") };
    }
  }
}

export { sendsInClear } from "../shared/address";
