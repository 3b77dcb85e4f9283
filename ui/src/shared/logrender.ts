// Turns one log line into DOM for the log view: ANSI styles as classed
// <span>s, search matches as <mark class="match"> (the current one also
// "current"), the text as text nodes. Never markup from the log.

import type { Segment } from "./ansi";
import type { Match } from "./logsearch";

/** A run of text with one style, inside match `match` (-1: outside any). */
export interface Piece {
  text: string;
  classes: string;
  match: number;
}

/**
 * Cuts styled segments at the edges of `matches` (sorted, not overlapping,
 * offsets in the segments' joined text).
 */
export function splitPieces(segments: readonly Segment[], matches: readonly Match[]): Piece[] {
  if (matches.length === 0) return segments.map((s) => ({ text: s.text, classes: s.classes, match: -1 }));
  const out: Piece[] = [];
  let pos = 0;
  let mi = 0;
  for (const seg of segments) {
    const t = seg.text;
    let s = 0;
    while (s < t.length) {
      const at = pos + s;
      while (mi < matches.length && matches[mi][1] <= at) mi++;
      const m = mi < matches.length ? matches[mi] : null;
      let upto: number;
      let match = -1;
      if (m !== null && m[0] <= at) {
        upto = Math.min(t.length, m[1] - pos);
        match = mi;
      } else {
        upto = m !== null ? Math.min(t.length, m[0] - pos) : t.length;
      }
      out.push({ text: t.slice(s, upto), classes: seg.classes, match });
      s = upto;
    }
    pos += t.length;
  }
  return out;
}

function styled(text: string, classes: string): Node {
  if (classes === "") return document.createTextNode(text);
  const span = document.createElement("span");
  span.className = classes;
  span.textContent = text;
  return span;
}

/** Fills `el` with the pieces: one <mark> per match, `current` (an index into matches) marked current. */
export function renderPieces(el: HTMLElement, pieces: readonly Piece[], current: number): void {
  const frag = document.createDocumentFragment();
  let mark: HTMLElement | null = null;
  let markOf = -1;
  for (const p of pieces) {
    if (p.match < 0) {
      mark = null;
      markOf = -1;
      frag.appendChild(styled(p.text, p.classes));
      continue;
    }
    if (mark === null || markOf !== p.match) {
      mark = document.createElement("mark");
      mark.className = p.match === current ? "match current" : "match";
      markOf = p.match;
      frag.appendChild(mark);
    }
    mark.appendChild(styled(p.text, p.classes));
  }
  el.replaceChildren(frag);
}
