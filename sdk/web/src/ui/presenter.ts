/**
 * Puts messages on screen inside one Shadow DOM: one blocking message at a time (the rest
 * wait, highest priority first), banners and slide-ups beside it. Handles the easy exits
 * (close control, Esc, backdrop), the focus trap and its return, and reports what happened.
 */

import type { Button, DecidedMessage, Interaction, Theme } from "../core/types";
import { focusables, safeUrl } from "./dom";
import { carousel } from "./carousel";
import { banner, fullscreen, html, modal, slideup } from "./formats";
import { CSS } from "./styles";
import { survey } from "./survey";
import { tour } from "./tour";
import type { Hooks, Renderer, View } from "./view";

const RENDERERS: Record<string, Renderer> = { modal, fullscreen, slideup, banner, html, carousel, tour, survey };

export interface Outlet {
  record(i: Interaction): void;
  track(name: string, props: Record<string, unknown>): void;
  emit(name: string, payload: Record<string, unknown>): void;
}

interface Showing {
  m: DecidedMessage;
  view: View;
  returnFocus: Element | null;
}

export class Presenter {
  readonly root: ShadowRoot;
  readonly host: HTMLElement;
  private blocking: Showing | null = null;
  private readonly side = new Map<number, Showing>();
  private waiting: DecidedMessage[] = [];
  /** Overlays the SDK owns besides messages (the inbox drawer). */
  overlay: { el: HTMLElement; close(): void } | null = null;

  constructor(
    private readonly out: Outlet,
    public theme: Theme,
  ) {
    this.host = document.createElement("tidings-root");
    this.host.setAttribute("data-tidings", "");
    this.root = this.host.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = CSS;
    this.root.append(style);
    (document.body ?? document.documentElement).append(this.host);
    document.addEventListener("keydown", (e) => this.onKey(e), true);
  }

  get busy(): boolean {
    return this.blocking !== null;
  }

  show(m: DecidedMessage): void {
    const render = RENDERERS[m.content.format];
    if (!render) return;
    if (!m.display.blocking) {
      if (this.side.has(m.campaign_id)) return;
      this.mount(m, render);
      return;
    }
    if (this.blocking || this.overlay) {
      if (this.blocking?.m.campaign_id === m.campaign_id) return;
      if (!this.waiting.some((w) => w.campaign_id === m.campaign_id)) {
        this.waiting.push(m);
        this.waiting.sort((a, b) => b.priority - a.priority);
      }
      return;
    }
    this.mount(m, render);
  }

  private mount(m: DecidedMessage, render: Renderer): void {
    const returnFocus = deepActive();
    let showing: Showing | null = null;
    const hooks: Hooks = {
      press: (b) => showing && this.press(showing, b),
      dismiss: (how) => showing && this.dismiss(showing, how),
      report: (kind, extra) => {
        this.out.record({ type: kind, campaign_id: m.campaign_id, occurrence: m.occurrence, ...extra });
        if (kind === "answer") this.out.emit("answered", { ...this.payload(m), answers: extra.answers ?? {} });
        if (kind === "tour_completed") this.out.emit("completed", this.payload(m));
      },
      notice: (name, props) => {
        const data = { ...this.payload(m), ...props };
        this.out.emit(name, data);
        this.out.track(`$${name}`, data);
      },
      done: () => showing && this.close(showing),
    };
    const view = render(m, hooks, this.theme);
    showing = { m, view, returnFocus };
    if (view.backdrop) {
      const backdrop = view.backdrop;
      backdrop.addEventListener("click", (e) => {
        if (e.target === backdrop && showing) this.dismiss(showing, "backdrop");
      });
    }
    if (m.display.blocking) this.blocking = showing;
    else this.side.set(m.campaign_id, showing);
    view.el.setAttribute("data-campaign", String(m.campaign_id));
    this.root.append(view.el);
    if (m.campaign_id !== 0) {
      this.out.record({ type: "impression", campaign_id: m.campaign_id, occurrence: m.occurrence });
      this.out.emit("shown", this.payload(m));
    }
    if (view.modal) {
      const first = focusables(view.el).find((el) => !el.classList.contains("x")) ?? focusables(view.el)[0];
      first?.focus({ preventScroll: true });
    }
  }

  private payload(m: DecidedMessage): Record<string, unknown> {
    return { campaign_id: m.campaign_id, occurrence: m.occurrence, variant: m.variant, format: m.content.format };
  }

  private local = new Set<(kind: "click" | "dismiss", button?: string) => void>();

  /** Listen to the SDK's own cards (campaign 0, e.g. the push explainer). */
  onLocal(cb: (kind: "click" | "dismiss", button?: string) => void): () => void {
    this.local.add(cb);
    return () => this.local.delete(cb);
  }

  private press(s: Showing, b: Button): void {
    const { m, view } = s;
    if (m.campaign_id === 0) {
      this.close(s);
      for (const cb of [...this.local]) cb("click", b.id);
      return;
    }
    this.out.record({ type: "click", campaign_id: m.campaign_id, occurrence: m.occurrence, button_id: b.id });
    this.out.emit("clicked", { ...this.payload(m), button_id: b.id, action: b.action.type });
    const a = b.action;
    if (a.type === "next" && view.next) return view.next();
    if (a.type === "previous" && view.previous) return view.previous();
    if (a.type === "submit" && view.submit) return view.submit();
    if (a.type === "event" && a.event) this.out.track(a.event, { campaign_id: m.campaign_id });
    this.close(s);
    const url = a.type === "open_url" ? safeUrl(a.url) : a.type === "deep_link" ? a.url : null;
    if (url) {
      const sameOrigin = url.startsWith(location.origin) || url.startsWith("/");
      if (sameOrigin || a.type === "deep_link") location.assign(url);
      else window.open(url, "_blank", "noopener");
    }
  }

  private dismiss(s: Showing, how: "close" | "esc" | "backdrop"): void {
    if (s.m.campaign_id === 0) {
      this.close(s);
      for (const cb of [...this.local]) cb("dismiss");
      return;
    }
    this.out.record({ type: "dismiss", campaign_id: s.m.campaign_id, occurrence: s.m.occurrence });
    this.out.emit("dismissed", { ...this.payload(s.m), how });
    this.close(s);
  }

  private close(s: Showing): void {
    s.view.destroy?.();
    s.view.el.remove();
    if (this.blocking === s) this.blocking = null;
    else this.side.delete(s.m.campaign_id);
    if (s.view.modal && s.returnFocus instanceof HTMLElement) s.returnFocus.focus({ preventScroll: true });
    this.next();
  }

  /** Show the next waiting message once the screen is free. */
  next(): void {
    if (this.blocking || this.overlay) return;
    const m = this.waiting.shift();
    if (m) this.show(m);
  }

  private top(): Showing | null {
    return this.blocking;
  }

  private onKey(e: KeyboardEvent): void {
    if (this.overlay) {
      if (e.key === "Escape") {
        e.preventDefault();
        this.overlay.close();
      } else if (e.key === "Tab") this.trap(e, this.overlay.el);
      return;
    }
    const s = this.top() ?? [...this.side.values()].pop() ?? null;
    if (!s) return;
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      this.dismiss(s, "esc");
      return;
    }
    if (!s.view.modal) return;
    if (e.key === "Tab") this.trap(e, s.view.el);
    else if (s.view.key?.(e)) e.preventDefault();
  }

  /** Keep Tab and Shift+Tab inside `el`. */
  private trap(e: KeyboardEvent, el: HTMLElement): void {
    const items = focusables(el);
    if (!items.length) return;
    const first = items[0] as HTMLElement;
    const last = items[items.length - 1] as HTMLElement;
    const active = this.root.activeElement;
    const inside = active !== null && el.contains(active);
    if (e.shiftKey && (active === first || !inside)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (active === last || !inside)) {
      e.preventDefault();
      first.focus();
    }
  }
}

function deepActive(): Element | null {
  let el: Element | null = document.activeElement;
  while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
  return el;
}
