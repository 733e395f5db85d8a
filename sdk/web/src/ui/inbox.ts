/** The inbox drawer (posts, pinned first, read state) and the launcher with its badge. */

import type { InboxPost, Theme } from "../core/types";
import { h } from "./dom";
import { buttons, image, shell } from "./view";

export interface InboxHooks {
  read(post: InboxPost): void;
  press(post: InboxPost): void;
  close(): void;
}

export function inboxDrawer(posts: InboxPost[], unread: number, theme: Theme, locale: string, hooks: InboxHooks): HTMLElement {
  const fake = { locale, content: { format: "post", direction: "auto" } } as never;
  const root = shell(fake, theme, "fmt-inbox");
  const count = h("span", { class: "count", "aria-label": `${unread} unread` }, String(unread));
  if (!unread) count.hidden = true;
  const items = posts.map((p) => {
    const li = h(
      "li",
      { class: `post${p.read ? "" : " unread"}`, tabindex: "0", "data-campaign": p.campaign_id, "aria-label": p.read ? null : `Unread: ${p.content.title}` },
      p.pinned ? h("div", { class: "pin" }, "Pinned") : null,
      image(p.content.image_url),
      h("h3", { class: "title" }, p.content.title),
      p.content.body ? h("p", { class: "body" }, p.content.body) : null,
      p.content.cta ? buttons([p.content.cta], { press: () => hooks.press(p) } as never) : null,
      h("div", { class: "meta" }, new Date(p.created_at).toLocaleDateString(locale, { month: "short", day: "numeric" })),
    );
    const markRead = (): void => {
      if (p.read) return;
      p.read = true;
      li.classList.remove("unread");
      unread = Math.max(0, unread - 1);
      count.textContent = String(unread);
      count.hidden = unread === 0;
      hooks.read(p);
    };
    li.addEventListener("click", markRead);
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter") markRead();
    });
    return li;
  });
  root.append(
    h(
      "aside",
      { class: "drawer", role: "dialog", "aria-modal": "true", "aria-label": "Inbox" },
      h("header", {}, h("h2", {}, "Inbox"), count),
      h("button", { class: "x", type: "button", "aria-label": "Close inbox", onclick: () => hooks.close() }, "×"),
      items.length ? h("ul", { class: "list" }, items) : h("div", { class: "empty" }, "You're all caught up."),
    ),
  );
  return root;
}

const BELL =
  '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/><path d="M13.73 21a2 2 0 0 1-3.46 0"/></svg>';

export function launcher(theme: Theme, open: () => void): { el: HTMLElement; setCount(n: number): void } {
  const fake = { locale: "en", content: { format: "post" } } as never;
  const root = shell(fake, theme, "fmt-launcher");
  const badge = h("span", { class: "badge" });
  badge.hidden = true;
  const btn = h("button", { class: "launcher", type: "button", "aria-label": "Open inbox", onclick: open });
  btn.innerHTML = BELL; // a constant, not message content
  btn.append(badge);
  root.append(btn);
  return {
    el: root,
    setCount(n: number) {
      badge.textContent = n > 99 ? "99+" : String(n);
      badge.hidden = n === 0;
      btn.setAttribute("aria-label", n ? `Open inbox, ${n} unread` : "Open inbox");
    },
  };
}
