/** Semantic versions as sortable text keys: the same function as tidings/targeting/semver.py. */

const VERSION_RE =
  /^[vV]?([0-9]{1,9})(?:\.([0-9]{1,9}))?(?:\.([0-9]{1,9}))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]*)?$/;

const pad = (n: string | undefined, width: number): string => String(Number(n ?? 0)).padStart(width, "0");

/** The sortable key of a version string, or null when it is not a version. */
export function semverKey(text: unknown): string | null {
  if (typeof text !== "string") return null;
  const m = VERSION_RE.exec(text);
  if (!m) return null;
  const key = `${pad(m[1], 9)}.${pad(m[2], 9)}.${pad(m[3], 9)}`;
  if (m[4] === undefined) return key + "~";
  const parts: string[] = [];
  for (const ident of m[4].split(".")) {
    if (/^[0-9]+$/.test(ident)) {
      if (ident.length > 10) return null;
      parts.push("0" + pad(ident, 10));
    } else {
      parts.push("1" + ident);
    }
  }
  return key + "-" + parts.join("!");
}
