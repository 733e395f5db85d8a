/** What every format renderer returns, and the pieces they share (theme, close, buttons). */

import type { Button, Common, DecidedMessage, Page, Theme } from "../core/types";
import { direction, h, safeUrl } from "./dom";

export interface Hooks {
  /** A button was pressed: reported as a click, then its action runs. */
  press(button: Button): void;
  /** Closed without a choice (close control, Esc, backdrop). */
  dismiss(how: "close" | "esc" | "backdrop"): void;
  /** A tour step was seen, a survey answered, ... */
  report(kind: "step_seen" | "tour_completed" | "answer", extra: { step?: number; answers?: Record<string, unknown> }): void;
  /** Something the host app may want to know (and an analytics event). */
  notice(name: string, props: Record<string, unknown>): void;
  /** The view is done (after a thank-you page, the last tour step, ...). */
  done(): void;
}

export interface View {
  /** The element mounted in the shadow root. */
  el: HTMLElement;
  /** Takes the screen: focus is trapped inside and Esc closes. */
  modal: boolean;
  /** Clicking this element itself (not its children) dismisses. */
  backdrop?: HTMLElement;
  next?(): void;
  previous?(): void;
  submit?(): void;
  key?(e: KeyboardEvent): boolean;
  destroy?(): void;
}

export type Renderer = (m: DecidedMessage, hooks: Hooks, appTheme: Theme) => View;

/** The themed, directed root of one message. */
export function shell(m: DecidedMessage, appTheme: Theme, ...classes: string[]): HTMLElement {
  const c = m.content as Common;
  const theme: Theme = { ...appTheme, ...stripNulls(c.theme ?? {}) };
  const el = h("div", { class: ["t", theme.dark ?? "auto", ...classes].join(" ") });
  el.setAttribute("dir", direction(c.direction, m.locale));
  el.setAttribute("lang", m.locale);
  const vars: [string, unknown][] = [
    ["--t-bg", theme.background],
    ["--t-fg", theme.text],
    ["--t-accent", theme.accent],
    ["--t-font", theme.font ? `${theme.font}, ui-sans-serif, system-ui, sans-serif` : null],
    ["--t-radius", typeof theme.radius === "number" ? `${theme.radius}px` : null],
  ];
  for (const [k, v] of vars) if (v) el.style.setProperty(k, String(v));
  if (theme.text) el.style.setProperty("--t-muted", String(theme.text));
  if (theme.accent) el.style.setProperty("--t-on-accent", readableOn(String(theme.accent)));
  return el;
}

function stripNulls<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as Partial<T>;
}

/** Black or white, whichever reads better on the given #rrggbb color. */
export function readableOn(hex: string): string {
  const n = parseInt(hex.slice(1, 7), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return 0.299 * r + 0.587 * g + 0.114 * b > 160 ? "#111827" : "#ffffff";
}

export function closeButton(hooks: Hooks, label = "Close"): HTMLElement {
  return h("button", { class: "x", type: "button", "aria-label": label, onclick: () => hooks.dismiss("close") }, "×");
}

export function buttons(list: Button[] | undefined, hooks: Hooks): HTMLElement | null {
  if (!list || list.length === 0) return null;
  return h(
    "div",
    { class: "actions" },
    list.map((b) =>
      h("button", { class: `btn ${b.style ?? "primary"}`, type: "button", "data-button": b.id, onclick: () => hooks.press(b) }, b.label),
    ),
  );
}

/** An image held to the card's size (max height in CSS), loaded lazily, alt-less decoration. */
export function image(url: string | null | undefined, cls = "media"): HTMLElement | null {
  const src = safeUrl(url);
  return src ? h("img", { class: cls, src, alt: "", loading: "lazy", decoding: "async", referrerpolicy: "no-referrer" }) : null;
}

export function author(c: Common): HTMLElement | null {
  if (!c.author) return null;
  return h("div", { class: "author" }, image(c.author.avatar_url, ""), c.author.name);
}

let counter = 0;
export function uid(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Title, body and buttons of a page (modal, full-screen, carousel page). */
export function pageBody(p: Page, hooks: Hooks, titleId: string, c?: Common): HTMLElement {
  return h(
    "div",
    { class: "pad" },
    c ? author(c) : null,
    p.title ? h("h2", { class: "title", id: titleId }, p.title) : null,
    p.body ? h("p", { class: "body" }, p.body) : null,
    buttons(p.buttons, hooks),
  );
}
