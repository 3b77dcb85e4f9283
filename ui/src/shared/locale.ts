// Imported first by main.ts: some libraries (uPlot) build number formatters
// from navigator.language when their module loads, and WebKitGTK reports
// the POSIX locale as it found it in LANG. Under LANG=C (minimal desktops,
// containers, our own tests) that is "C", which Intl rejects with a
// RangeError — and the whole UI would fail to load. An unusable tag is
// replaced by the nearest one Intl accepts.

/** The BCP 47 tag Intl accepts for `tag` ("en_US.UTF-8" → "en-US"), else "en-US". */
export function usableLocale(tag: string | undefined): string {
  const candidates = [tag, tag?.split(/[.@]/)[0]?.replace(/_/g, "-")];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      return Intl.getCanonicalLocales(candidate)[0] ?? "en-US";
    } catch {
      // Not a tag Intl knows; try the next form.
    }
  }
  return "en-US";
}

if (typeof navigator !== "undefined") {
  const usable = usableLocale(navigator.language);
  if (usable !== navigator.language) {
    Object.defineProperty(navigator, "language", { value: usable, configurable: true });
    Object.defineProperty(navigator, "languages", { value: [usable], configurable: true });
  }
}
