/** A tiny element builder: text is always set as text, never parsed as HTML. */

type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
type Child = Node | string | null | undefined | false;

export function h(tag: string, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

/** Only http(s) and relative URLs are followed or loaded (never `javascript:`). */
export function safeUrl(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), textarea:not([disabled]), select:not([disabled]), iframe, [tabindex]:not([tabindex="-1"])';

export function focusables(root: ParentNode): HTMLElement[] {
  return Array.from(root.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
    (el) => !el.hasAttribute("hidden") && el.getClientRects().length > 0,
  );
}

const RTL_LANGS = new Set(["ar", "fa", "he", "iw", "ur", "ps", "ku", "ckb", "dv", "yi", "sd", "ug"]);

/** The writing direction of a message: its own, else from its locale. */
export function direction(dir: string | undefined, locale: string): "ltr" | "rtl" {
  if (dir === "rtl" || dir === "ltr") return dir;
  return RTL_LANGS.has(locale.toLowerCase().split(/[-_]/)[0] ?? "") ? "rtl" : "ltr";
}
