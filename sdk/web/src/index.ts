/**
 * The `Tidings` global: `Tidings.init({ appKey, host })`, then `identify`, `track`, `page`,
 * `reset`, `showInbox` and `on`. Everything is queued until init; nothing here throws into
 * the host page.
 */

import { Core, SDK_VERSION, type Config } from "./core/client";
import type { FetchLike } from "./core/http";
import { SafeKV, type KV } from "./core/storage";
import type { DecidedMessage, InboxPost, Theme } from "./core/types";
import { connectLive } from "./live";
import { inboxDrawer, launcher } from "./ui/inbox";
import { Presenter } from "./ui/presenter";
import { subscribePush, type PushOptions } from "./push";

export interface InitOptions extends Config {
  /** The app's theme (a message's own theme wins). */
  theme?: Theme;
  /** Show a floating inbox button with an unread badge. */
  inboxLauncher?: boolean;
  /** Keep an SSE connection for messages that must appear now (default true). */
  live?: boolean;
  /** Capture page views on load and single-page-app navigation (default true). */
  autoPageViews?: boolean;
  push?: PushOptions;
}

type Listener = (payload: Record<string, unknown>) => void;

function browserKV(): KV | null {
  try {
    const s = window.localStorage;
    return { get: (k) => s.getItem(k), set: (k, v) => s.setItem(k, v), remove: (k) => s.removeItem(k) };
  } catch {
    return null;
  }
}

function deviceFacts(): Record<string, unknown> {
  const ua = navigator.userAgent;
  const os = /Windows NT ([\d.]+)/.exec(ua)
    ? ["Windows", /Windows NT ([\d.]+)/.exec(ua)?.[1]]
    : /Android ([\d.]+)/.exec(ua)
      ? ["Android", /Android ([\d.]+)/.exec(ua)?.[1]]
      : /(iPhone|iPad).*OS ([\d_]+)/.exec(ua)
        ? ["iOS", /OS ([\d_]+)/.exec(ua)?.[1]?.replace(/_/g, ".")]
        : /Mac OS X ([\d_]+)/.exec(ua)
          ? ["macOS", /Mac OS X ([\d_]+)/.exec(ua)?.[1]?.replace(/_/g, ".")]
          : /Linux/.test(ua)
            ? ["Linux", undefined]
            : [undefined, undefined];
  const browser = /Edg\/([\d.]+)/.exec(ua)
    ? `Edge ${/Edg\/(\d+)/.exec(ua)?.[1]}`
    : /Firefox\/(\d+)/.exec(ua)
      ? `Firefox ${/Firefox\/(\d+)/.exec(ua)?.[1]}`
      : /Chrome\/(\d+)/.exec(ua)
        ? `Chrome ${/Chrome\/(\d+)/.exec(ua)?.[1]}`
        : /Version\/(\d+).*Safari/.exec(ua)
          ? `Safari ${/Version\/(\d+)/.exec(ua)?.[1]}`
          : "Browser";
  const facts: Record<string, unknown> = { model: browser.slice(0, 100) };
  if (os[0]) facts.os_name = os[0];
  if (os[1]) facts.os_version = String(os[1]).slice(0, 50);
  if (screen?.width && screen?.height) facts.screen = { width: screen.width, height: screen.height };
  return facts;
}

class TidingsSDK {
  readonly version = SDK_VERSION;
  private core: Core | null = null;
  private presenter: Presenter | null = null;
  private listeners = new Map<string, Set<Listener>>();
  private badge: ReturnType<typeof launcher> | null = null;
  private options: InitOptions | null = null;
  private stopLive: (() => void) | null = null;
  private lastUrl = "";
  private early: DecidedMessage[] = [];
  private lastShownAt = -Infinity;
  /** Resolves when init has identified the user and fetched the session's messages. */
  ready: Promise<void> = Promise.resolve();

  init(options: InitOptions): Promise<void> {
    if (this.core) return this.ready;
    if (!options?.appKey || !options.host) throw new Error("Tidings.init needs appKey and host");
    this.options = options;
    const timezone = (() => {
      try {
        return Intl.DateTimeFormat().resolvedOptions().timeZone;
      } catch {
        return undefined;
      }
    })();
    const config: Config = { ...options, locale: options.locale ?? navigator.language };
    const core = new Core(config, {
      kv: new SafeKV(browserKV()),
      fetch: ((url, init) => fetch(url, init)) as FetchLike,
      timers: { now: () => Date.now(), set: (fn, ms) => setTimeout(fn, ms), clear: (h) => clearTimeout(h as number) },
      url: () => location.href,
      device: deviceFacts(),
      ...(timezone ? { timezone } : {}),
    });
    this.core = core;
    core.sender.onDropped = (status, n) => this.emit("error", { status, dropped: n });
    const start = (): void => {
      this.presenter = new Presenter(
        {
          record: (i) => core.record(i),
          track: (name, props) => core.track(name, props),
          emit: (name, payload) => this.emit(name, payload),
        },
        options.theme ?? {},
      );
      for (const m of this.early.splice(0)) this.display(m);
      if (options.inboxLauncher) {
        this.badge = launcher(options.theme ?? {}, () => void this.showInbox());
        this.presenter.root.append(this.badge.el);
      }
    };
    core.present = (m) => this.display(m);
    if (document.body) start();
    else document.addEventListener("DOMContentLoaded", start, { once: true });
    this.ready = core.start().then(() => {
      if (options.autoPageViews !== false) this.capturePages();
      if (options.inboxLauncher) void this.refreshBadge();
      void core.sender.flush(true);
      if (options.live !== false) {
        this.stopLive = connectLive(options.host, options.appKey, () => core.identity(), () => core.session(), (m) => core.live(m));
      }
    });
    // Never lose what is queued: hand it over as the page goes away, and resend when back online.
    addEventListener("pagehide", () => core.sender.sendUnloading());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") core.sender.sendUnloading();
    });
    addEventListener("online", () => void core.sender.flush(true));
    return this.ready;
  }

  private need(): Core {
    if (!this.core) throw new Error("call Tidings.init first");
    return this.core;
  }

  private display(m: DecidedMessage): void {
    const core = this.need();
    if (m.holdout) {
      // The holdout's exposure is logged at the moment the message would have shown, so
      // lift compares like with like; nothing is shown and no budget is spent.
      if (core.wasShown(m)) return;
      core.markShown(m);
      core.record({ type: "impression", campaign_id: m.campaign_id, occurrence: m.occurrence });
      return;
    }
    if (!this.presenter) {
      this.early.push(m);
      return;
    }
    if (core.wasShown(m)) return;
    const budget = core.decision?.budget;
    if (budget && !m.exempt_from_budget && budget.max_inapp_per_session !== null && budget.shown_this_session >= budget.max_inapp_per_session) return;
    const now = Date.now();
    if (budget && !m.exempt_from_budget && now - this.lastShownAt < budget.min_gap_seconds * 1000) return;
    core.markShown(m);
    if (!m.exempt_from_budget) this.lastShownAt = now;
    if (budget) budget.shown_this_session += 1;
    this.presenter.show(m);
  }

  private capturePages(): void {
    const core = this.need();
    const seen = (): void => {
      if (location.href === this.lastUrl) return;
      this.lastUrl = location.href;
      core.page(location.href, { title: document.title, path: location.pathname, referrer: document.referrer || null });
    };
    for (const fn of ["pushState", "replaceState"] as const) {
      const original = history[fn];
      history[fn] = function (this: History, ...args: Parameters<History["pushState"]>) {
        const out = original.apply(this, args);
        queueMicrotask(seen);
        return out;
      };
    }
    addEventListener("popstate", seen);
    addEventListener("hashchange", seen);
    seen();
  }

  identify(userId: string, attributes: Record<string, unknown> = {}, userHash?: string): Promise<void> {
    return this.need().identify(userId, attributes, userHash);
  }

  track(name: string, properties: Record<string, unknown> = {}): void {
    this.need().track(name, properties);
  }

  page(url?: string, properties: Record<string, unknown> = {}): void {
    const target = url ?? location.href;
    this.lastUrl = target;
    this.need().page(target, properties);
  }

  /** Show messages whose trigger is the explicit SDK call `name`. */
  trigger(name: string): void {
    this.need().trigger(name);
  }

  reset(): void {
    const core = this.need();
    core.reset();
    this.stopLive?.();
    this.stopLive = null;
    this.ready = core.start().then(() => {
      const o = this.options;
      if (o && o.live !== false) {
        this.stopLive = connectLive(o.host, o.appKey, () => core.identity(), () => core.session(), (m) => core.live(m));
      }
      if (o?.inboxLauncher) void this.refreshBadge();
    });
  }

  /** Send what is queued now (resolves when the server has it, or a retry is scheduled). */
  flush(): Promise<void> {
    return this.need().sender.flush(true);
  }

  on(event: string, cb: Listener): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(cb);
    return () => set?.delete(cb);
  }

  private emit(event: string, payload: Record<string, unknown>): void {
    for (const cb of [...(this.listeners.get(event) ?? []), ...(this.listeners.get("*") ?? [])]) {
      try {
        cb({ event, ...payload });
      } catch {
        /* a host listener's error stays in the host */
      }
    }
  }

  private async refreshBadge(): Promise<number> {
    const inbox = await this.need().inbox();
    const n = inbox?.unread ?? 0;
    this.badge?.setCount(n);
    return n;
  }

  /** The unread count of the user's inbox. */
  async unread(): Promise<number> {
    return this.refreshBadge();
  }

  async showInbox(): Promise<void> {
    const core = this.need();
    const p = this.presenter;
    if (!p || p.overlay) return;
    const inbox = await core.inbox();
    const posts = inbox?.data ?? [];
    const returnFocus = document.activeElement;
    const occurrenceOf = (post: InboxPost): number => (post as unknown as { occurrence?: number }).occurrence ?? 1;
    const close = (): void => {
      el.remove();
      p.overlay = null;
      if (returnFocus instanceof HTMLElement) returnFocus.focus();
      void this.refreshBadge();
      p.next();
    };
    const el = inboxDrawer(posts, inbox?.unread ?? 0, this.options?.theme ?? {}, core.config.locale ?? "en", {
      read: (post) => {
        core.record({ type: "inbox_read", campaign_id: post.campaign_id, occurrence: occurrenceOf(post) });
        this.emit("inbox_read", { campaign_id: post.campaign_id });
        void core.sender.flush().then(() => this.refreshBadge());
      },
      press: (post) => {
        const cta = post.content.cta;
        if (!cta) return;
        core.record({ type: "click", campaign_id: post.campaign_id, occurrence: occurrenceOf(post), button_id: cta.id });
        this.emit("clicked", { campaign_id: post.campaign_id, button_id: cta.id, format: "post" });
        if (cta.action.type === "open_url" && cta.action.url) window.open(cta.action.url, "_blank", "noopener");
        if (cta.action.type === "event" && cta.action.event) core.track(cta.action.event, { campaign_id: post.campaign_id });
      },
      close,
    });
    p.overlay = { el, close };
    p.root.append(el);
    (el.querySelector(".x") as HTMLElement | null)?.focus();
    this.emit("inbox_opened", { unread: inbox?.unread ?? 0 });
  }

  readonly push = {
    subscribe: (opts?: PushOptions): Promise<boolean> => {
      const core = this.need();
      return subscribePush(core, { ...(this.options?.push ?? {}), ...(opts ?? {}) }, this.presenter);
    },
  };
}

const Tidings = new TidingsSDK();
declare global {
  interface Window {
    Tidings: TidingsSDK;
  }
}
if (typeof window !== "undefined") {
  const queued = (window as unknown as { Tidings?: { q?: [string, unknown[]][] } }).Tidings?.q;
  window.Tidings = Tidings;
  // The two-line snippet may have queued calls before this file loaded.
  for (const [method, args] of queued ?? []) {
    const fn = (Tidings as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
    if (typeof fn === "function") {
      try {
        void fn.apply(Tidings, args);
      } catch {
        /* ignore */
      }
    }
  }
}
export default Tidings;
