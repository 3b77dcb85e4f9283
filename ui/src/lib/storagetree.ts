// The Storage screen's tree as a flat list of rows: only the folders that are
// open contribute their entries, so the list is what a virtual window shows.
import type { StorageEntry } from "../bindings";

export type StorageSort = "size" | "date" | "name";

export const STORAGE_SORTS: readonly { value: StorageSort; label: string }[] = [
  { value: "size", label: "Largest first" },
  { value: "date", label: "Newest first" },
  { value: "name", label: "Name" },
];

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function byName(a: StorageEntry, b: StorageEntry): number {
  return collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** A sorted copy: largest first, newest first, or by name (case aside, numbers in order). Ties go by name. */
export function sortEntries(entries: readonly StorageEntry[], sort: StorageSort): StorageEntry[] {
  const out = entries.slice();
  switch (sort) {
    case "size":
      out.sort((a, b) => b.size_bytes - a.size_bytes || byName(a, b));
      break;
    case "date":
      out.sort((a, b) => b.modified_ms - a.modified_ms || byName(a, b));
      break;
    case "name":
      out.sort(byName);
      break;
  }
  return out;
}

/** One visible row. */
export type TreeRow = {
  entry: StorageEntry;
  /** 0 for the top folder's entries. */
  depth: number;
  /** A folder shown open. */
  open: boolean;
  /** Its share of the folder holding it (0–1), for the size bar. */
  share: number;
};

/**
 * The rows to show: the top entries, and under each open folder whose
 * entries are known, its entries, depth first. `children` holds each loaded
 * folder's entries already sorted (see `sortEntries`); `topSize` is the
 * size of the top folder, for the shares.
 */
export function flattenTree(
  top: readonly StorageEntry[],
  topSize: number,
  children: ReadonlyMap<string, readonly StorageEntry[]>,
  open: ReadonlySet<string>,
): TreeRow[] {
  const rows: TreeRow[] = [];
  // An explicit stack: a deep tree must not overflow the call stack.
  type Frame = { entries: readonly StorageEntry[]; next: number; depth: number; size: number };
  const stack: Frame[] = [{ entries: top, next: 0, depth: 0, size: topSize }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.next >= frame.entries.length) {
      stack.pop();
      continue;
    }
    const entry = frame.entries[frame.next++];
    const isOpen = entry.dir && open.has(entry.path);
    rows.push({
      entry,
      depth: frame.depth,
      open: isOpen,
      share: frame.size > 0 ? Math.min(1, entry.size_bytes / frame.size) : 0,
    });
    if (isOpen) {
      const inside = children.get(entry.path);
      if (inside && inside.length > 0) {
        stack.push({ entries: inside, next: 0, depth: frame.depth + 1, size: entry.size_bytes });
      }
    }
  }
  return rows;
}

/** The folder holding a path ("" for the top): "a/b/c.txt" → "a/b". */
export function parentPath(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** The folders above a path, outermost first: "a/b/c.txt" → ["a", "a/b"]. */
export function ancestorPaths(path: string): string[] {
  const parts = path.split("/").filter((p) => p !== "");
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join("/"));
  return out;
}

/** Where the window of rows starts and ends (end excluded), with `overscan` rows either side. */
export function visibleRange(
  scrollTop: number,
  viewHeight: number,
  rowHeight: number,
  count: number,
  overscan = 8,
): { start: number; end: number } {
  if (count === 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const shown = Math.ceil(Math.max(0, viewHeight) / rowHeight) + 1;
  const start = Math.max(0, Math.min(count - 1, first) - overscan);
  const end = Math.min(count, first + shown + overscan);
  return { start, end: Math.max(start, end) };
}

/** The scroll position that brings row `index` into view, or null when it is in view already. */
export function scrollToRow(index: number, scrollTop: number, viewHeight: number, rowHeight: number): number | null {
  const top = index * rowHeight;
  const bottom = top + rowHeight;
  if (top < scrollTop) return top;
  if (bottom > scrollTop + viewHeight) return Math.max(0, bottom - viewHeight);
  return null;
}
