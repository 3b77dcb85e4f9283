// The Submit page's form (image, command, env, GPUs, labels, node) as a
// JSON job, which the hub then checks like any job file. The words are read
// as the desktop's New task reads them (shared/forms.ts) and the command
// line is split as the protocol's `split_command` does
// (crates/protocol/src/form.rs), so the same line makes the same argv.

import { gpusValue, parseEnv, parseLabels, type GpuChoice } from "../../shared/forms";

/** The form as typed. */
export type JobForm = {
  name: string;
  image: string;
  command: string;
  env: string;
  gpuChoice: GpuChoice;
  gpuText: string;
  labels: string;
  node: string;
};

export const EMPTY_FORM: JobForm = {
  name: "",
  image: "",
  command: "",
  env: "",
  gpuChoice: "none",
  gpuText: "",
  labels: "",
  node: "",
};

/** Splits a command line into words as a shell would for quotes and backslashes (no variables or globs). */
export function splitCommand(line: string): { words: string[] } | { error: string } {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  const chars = [...line];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "'") {
      inWord = true;
      const close = chars.indexOf("'", i + 1);
      if (close < 0) return { error: "the command has a ' without its closing '" };
      word += chars.slice(i + 1, close).join("");
      i = close;
    } else if (c === '"') {
      inWord = true;
      for (i++; ; i++) {
        if (i >= chars.length) return { error: 'the command has a " without its closing "' };
        const d = chars[i];
        if (d === '"') break;
        if (d === "\\") {
          i++;
          if (i >= chars.length) return { error: 'the command ends inside a "…"' };
          const e = chars[i];
          word += e === '"' || e === "\\" || e === "$" || e === "`" ? e : `\\${e}`;
        } else word += d;
      }
    } else if (c === "\\") {
      inWord = true;
      if (i + 1 < chars.length) word += chars[++i];
    } else if (/\s/u.test(c)) {
      if (inWord) {
        words.push(word);
        word = "";
        inWord = false;
      }
    } else {
      inWord = true;
      word += c;
    }
  }
  if (inWord) words.push(word);
  return { words };
}

/** The job the form describes as JSON text, or the sentences saying what to fix. */
export function formJob(form: JobForm): { text: string } | { errors: string[] } {
  const errors: string[] = [];
  const image = form.image.trim();
  if (image === "") errors.push("Enter an image, e.g. python:3.12-slim.");
  const command = splitCommand(form.command);
  if ("error" in command) errors.push(`Command: ${command.error}.`);
  const env = parseEnv(form.env);
  errors.push(...env.errors.map((e) => `Environment: ${e}`));
  const gpus = gpusValue(form.gpuChoice, form.gpuText);
  if ("error" in gpus) errors.push(`GPUs: ${gpus.error}`);
  if (errors.length > 0 || "error" in command || "error" in gpus) return { errors };

  const job: Record<string, unknown> = {};
  if (form.name.trim() !== "") job.name = form.name.trim();
  job.image = image;
  if (command.words.length > 0) job.command = command.words;
  if (env.env.length > 0) {
    const map: Record<string, string> = {};
    for (const line of env.env) {
      const eq = line.indexOf("=");
      map[line.slice(0, eq)] = line.slice(eq + 1);
    }
    job.env = map;
  }
  if (gpus.value !== "") {
    const v = gpus.value;
    job.resources = { gpus: v === "all" ? "all" : form.gpuChoice === "count" ? Number(v) : v.split(",").map(Number) };
  }
  const labels = parseLabels(form.labels);
  if (labels.length > 0) job.labels = labels;
  if (form.node.trim() !== "") job.node = form.node.trim();
  return { text: JSON.stringify(job, null, 2) };
}
