// Colours for the canvas charts, read from the page's CSS variables so they
// follow the light and dark themes.

/** A CSS variable's value on the document ("--accent" → "#1d63ed"), or `fallback`. */
export function cssVar(name: string, fallback = "#888888"): string {
  if (typeof document === "undefined") return fallback;
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v === "" ? fallback : v;
}

/** A colour made see-through: "#1d63ed", 0.2 → "rgba(29, 99, 237, 0.2)". Unknown forms come back as they are. */
export function withAlpha(color: string, alpha: number): string {
  const c = color.trim();
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c);
  if (hex) {
    let h = hex[1];
    if (h.length === 3) h = [...h].map((ch) => ch + ch).join("");
    const n = parseInt(h, 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  const rgb = /^rgba?\(\s*(\d+)[\s,]+(\d+)[\s,]+(\d+)/i.exec(c);
  if (rgb) return `rgba(${rgb[1]}, ${rgb[2]}, ${rgb[3]}, ${alpha})`;
  return c;
}

/** Calls `onChange` when the system switches between light and dark; returns the way to stop. */
export function watchColorScheme(onChange: () => void): () => void {
  if (typeof window === "undefined" || !window.matchMedia) return () => {};
  const query = window.matchMedia("(prefers-color-scheme: dark)");
  query.addEventListener("change", onChange);
  return () => query.removeEventListener("change", onChange);
}

/**
 * The pill tone of a node or agent that steps aside for its person
 * (yielding): violet, apart from the amber of a pause by a person's hand.
 */
export const YIELDING_TONE = "tone-violet";
