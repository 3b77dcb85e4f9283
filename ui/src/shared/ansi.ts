// ANSI SGR colours for logs, turned into plain segments of text with CSS
// classes. Nothing here makes markup: the view builds text nodes and <span>s.
//
// Only SGR ("ESC [ ... m") sets style; every other escape sequence (cursor
// moves, OSC titles and links, two-character escapes) is dropped.

/** The style in force: colours are 0..15 (the 16 basic ones) or null. */
export interface AnsiState {
  fg: number | null;
  bg: number | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

export interface Segment {
  text: string;
  /** Space-separated CSS classes ("" for default style). */
  classes: string;
}

export function initialState(): AnsiState {
  return { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
}

/** A copy of `s`, to carry on from without changing it. */
export function copyState(s: Readonly<AnsiState>): AnsiState {
  return { fg: s.fg, bg: s.bg, bold: s.bold, dim: s.dim, italic: s.italic, underline: s.underline };
}

// CSI (group 1: params, group 2: intermediates, group 3: final byte), OSC,
// character-set escapes (ESC ( B) and the two-character escapes.
const ESCAPE = /\x1b\[([0-?]*)([ -/]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]+[0-~]|\x1b[@-Z\\-_]/g;
/** An escape sequence cut off at the end of the text. */
export const ANSI_CUT = /\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*)?$/;
/** Any escape sequence but SGR (which sets colours). */
const NON_SGR = /\x1b\[(?![0-9;:]*m)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]+[0-~]|\x1b[@-Z\\-_]/g;

/** Drops every escape sequence but SGR ones (and a sequence cut at the end). */
export function keepSgrOnly(text: string): string {
  if (!text.includes("\x1b")) return text;
  return text.replace(NON_SGR, "").replace(ANSI_CUT, "");
}

const SGR = /\x1b\[[0-9;:]*m/g;

/** Only the SGR sequences of `text`, in order (what a line overwritten by "\r" leaves in force). */
export function sgrOnly(text: string): string {
  if (!text.includes("\x1b")) return "";
  return (text.match(SGR) ?? []).join("");
}

/** Drops every escape sequence. */
export function stripAnsi(text: string): string {
  if (!text.includes("\x1b")) return text;
  return text.replace(ESCAPE, "").replace(ANSI_CUT, "").replaceAll("\x1b", "");
}

const CUBE = [0, 95, 135, 175, 215, 255];

/** The nearest of the 16 basic colours to an RGB colour, roughly. */
function nearestBasic(r: number, g: number, b: number): number {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  if (max - min < 40) {
    // Grey.
    if (max < 60) return 0;
    if (max < 150) return 8;
    if (max < 220) return 7;
    return 15;
  }
  const t = max / 2;
  const index = (r > t ? 1 : 0) | (g > t ? 2 : 0) | (b > t ? 4 : 0);
  return max > 200 ? index + 8 : index;
}

function from256(n: number): number | null {
  if (!(n >= 0 && n <= 255)) return null;
  if (n < 16) return n;
  if (n < 232) {
    const i = n - 16;
    return nearestBasic(CUBE[Math.floor(i / 36)], CUBE[Math.floor(i / 6) % 6], CUBE[i % 6]);
  }
  const v = 8 + 10 * (n - 232);
  return nearestBasic(v, v, v);
}

/** Applies the parameters of one SGR sequence ("31;1", "" = reset) to `s`. */
export function applySgr(s: AnsiState, params: string): void {
  const p = params === "" ? [0] : params.split(/[;:]/).map((x) => (x === "" ? 0 : Number(x)));
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === 0) Object.assign(s, initialState());
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 22) s.bold = s.dim = false;
    else if (c === 23) s.italic = false;
    else if (c === 24) s.underline = false;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c === 39) s.fg = null;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c === 49) s.bg = null;
    else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
    else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
    else if (c === 38 || c === 48) {
      let colour: number | null = null;
      if (p[i + 1] === 5) {
        colour = from256(p[i + 2]);
        i += 2;
      } else if (p[i + 1] === 2) {
        const [r, g, b] = [p[i + 2], p[i + 3], p[i + 4]];
        if ([r, g, b].every((v) => v >= 0 && v <= 255)) colour = nearestBasic(r, g, b);
        i += 4;
      } else {
        break; // malformed: ignore the rest
      }
      if (colour !== null) {
        if (c === 38) s.fg = colour;
        else s.bg = colour;
      }
    }
    // Anything else (blink, inverse, fonts…) is ignored.
  }
}

export function classesOf(s: AnsiState): string {
  const out: string[] = [];
  if (s.fg !== null) out.push(`ansi-fg-${s.fg}`);
  if (s.bg !== null) out.push(`ansi-bg-${s.bg}`);
  if (s.bold) out.push("ansi-bold");
  if (s.dim) out.push("ansi-dim");
  if (s.italic) out.push("ansi-italic");
  if (s.underline) out.push("ansi-underline");
  return out.join(" ");
}

/** An SGR sequence that sets `s` from the default style ("" when it is the default). */
export function sgrFor(s: AnsiState): string {
  const p: number[] = [];
  if (s.bold) p.push(1);
  if (s.dim) p.push(2);
  if (s.italic) p.push(3);
  if (s.underline) p.push(4);
  if (s.fg !== null) p.push(s.fg < 8 ? 30 + s.fg : 90 + s.fg - 8);
  if (s.bg !== null) p.push(s.bg < 8 ? 40 + s.bg : 100 + s.bg - 8);
  return p.length === 0 ? "" : `\x1b[${p.join(";")}m`;
}

/**
 * Splits text (one line or several) into styled segments, starting from
 * `state` and leaving in it the style in force at the end, so the next line
 * carries on. Escape sequences never show; give it whole lines so none is cut.
 */
export function parseAnsi(text: string, state: AnsiState): Segment[] {
  const out: Segment[] = [];
  const push = (t: string) => {
    if (t.includes("\x1b")) t = t.replace(ANSI_CUT, "").replaceAll("\x1b", "");
    if (t.length === 0) return;
    const classes = classesOf(state);
    const last = out[out.length - 1];
    if (last && last.classes === classes) last.text += t;
    else out.push({ text: t, classes });
  };
  let at = 0;
  ESCAPE.lastIndex = 0;
  for (let m = ESCAPE.exec(text); m !== null; m = ESCAPE.exec(text)) {
    push(text.slice(at, m.index));
    at = m.index + m[0].length;
    if (m[3] === "m" && m[2] === "" && /^[0-9;:]*$/.test(m[1])) applySgr(state, m[1]);
  }
  push(text.slice(at));
  return out;
}

/** Advances `state` over `text` as `parseAnsi` would, without making segments. */
export function advance(text: string, state: AnsiState): void {
  if (!text.includes("\x1b")) return;
  ESCAPE.lastIndex = 0;
  for (let m = ESCAPE.exec(text); m !== null; m = ESCAPE.exec(text)) {
    if (m[3] === "m" && m[2] === "" && /^[0-9;:]*$/.test(m[1])) applySgr(state, m[1]);
  }
}
