/** Renderers of the page formats: modal, full-screen, slide-up, banner, HTML. */

import type { BannerMessage, HtmlMessage, PageMessage } from "../core/types";
import { h } from "./dom";
import { author, buttons, closeButton, image, pageBody, type Renderer, shell, uid } from "./view";

export const modal: Renderer = (m, hooks, theme) => {
  const c = m.content as PageMessage;
  const titleId = uid("t-title");
  const card = h(
    "div",
    { class: "card", role: "dialog", "aria-modal": "true", "aria-labelledby": c.title ? titleId : null, "aria-label": c.title ? null : "Message" },
    image(c.image_url),
    closeButton(hooks),
    pageBody(c, hooks, titleId, c),
  );
  if (c.image_url) card.querySelector(".x")?.classList.add("on-media");
  const backdrop = h("div", { class: "backdrop" }, card);
  const root = shell(m, theme, "fmt-modal");
  root.append(backdrop);
  return { el: root, modal: true, backdrop };
};

export const fullscreen: Renderer = (m, hooks, theme) => {
  const c = m.content as PageMessage;
  const titleId = uid("t-title");
  const root = shell(m, theme, "fmt-fullscreen");
  root.append(
    h(
      "div",
      { class: "full", role: "dialog", "aria-modal": "true", "aria-labelledby": c.title ? titleId : null, "aria-label": c.title ? null : "Message" },
      closeButton(hooks),
      h(
        "div",
        { class: "inner" },
        image(c.image_url),
        author(c),
        c.title ? h("h2", { class: "title", id: titleId }, c.title) : null,
        c.body ? h("p", { class: "body" }, c.body) : null,
        buttons(c.buttons, hooks),
      ),
    ),
  );
  return { el: root, modal: true };
};

export const slideup: Renderer = (m, hooks, theme) => {
  const c = m.content as PageMessage;
  const titleId = uid("t-title");
  const root = shell(m, theme, "fmt-slideup");
  root.append(
    h(
      "div",
      { class: "slideup", role: "dialog", "aria-modal": "false", "aria-labelledby": c.title ? titleId : null, "aria-label": c.title ? null : "Message" },
      image(c.image_url, "thumb"),
      h(
        "div",
        {},
        c.title ? h("h2", { class: "title", id: titleId }, c.title) : null,
        c.body ? h("p", { class: "body" }, c.body) : null,
        buttons(c.buttons, hooks),
      ),
      closeButton(hooks),
    ),
  );
  return { el: root, modal: false };
};

export const banner: Renderer = (m, hooks, theme) => {
  const c = m.content as BannerMessage;
  const root = shell(m, theme, "fmt-banner");
  root.classList.add("banner", c.position === "bottom" ? "bottom" : "top");
  root.setAttribute("role", "status");
  root.setAttribute("aria-live", "polite");
  root.append(
    c.author?.avatar_url ? image(c.author.avatar_url, "avatar") ?? "" : "",
    h("p", { class: "body" }, c.body),
    buttons(c.buttons, hooks) ?? "",
    c.dismissible === false ? "" : closeButton(hooks, "Dismiss"),
  );
  root.querySelector(".actions")?.setAttribute("style", "margin-top:0;flex-wrap:nowrap");
  return { el: root, modal: false };
};

/** Bridge inside the frame: links to #tidings-close and #tidings-click-<id> talk to the SDK. */
const BRIDGE = `<script>document.addEventListener("click",function(e){var a=e.target&&e.target.closest&&e.target.closest("a[href]");if(!a)return;var href=a.getAttribute("href")||"";var m;e.preventDefault();if(href==="#tidings-close")parent.postMessage({tidings:"close"},"*");else if((m=/^#tidings-click-([A-Za-z0-9_.-]+)$/.exec(href)))parent.postMessage({tidings:"click",id:m[1]},"*");else if(/^https?:/.test(href))parent.postMessage({tidings:"open",url:href},"*");});document.addEventListener("keydown",function(e){if(e.key==="Escape")parent.postMessage({tidings:"esc"},"*");});</script>`;
const FRAME_CSS = `<style>html,body{margin:0}body{font:15px/1.5 ui-sans-serif,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;padding:24px}img{max-width:100%;height:auto;border-radius:12px}h1,h2,h3{line-height:1.25;margin:0 0 .5em}a{color:#4f46e5;font-weight:600}a[href^="#tidings-"]{display:inline-block;margin:8px 8px 0 0;padding:10px 18px;border-radius:10px;text-decoration:none;background:#f3f4f6;color:#111827;box-shadow:inset 0 0 0 1px #e5e7eb}a[href^="#tidings-click-"]{background:#4f46e5;color:#fff;box-shadow:none}</style>`;

export const html: Renderer = (m, hooks, theme) => {
  const c = m.content as HtmlMessage;
  const frame = h("iframe", {
    class: "frame",
    // Scripts only for the bridge; without allow-same-origin the frame is an opaque origin.
    sandbox: "allow-scripts",
    title: "Message",
    referrerpolicy: "no-referrer",
    style: `height:${Math.min(c.height ?? 400, window.innerHeight - 64)}px`,
  }) as HTMLIFrameElement;
  frame.srcdoc = `<!doctype html><html dir="${c.direction === "rtl" ? "rtl" : "auto"}"><head><meta charset="utf-8">${FRAME_CSS}</head><body>${c.html}${BRIDGE}</body></html>`;
  const onMessage = (e: MessageEvent): void => {
    if (e.source !== frame.contentWindow || !e.data || typeof e.data !== "object") return;
    const d = e.data as { tidings?: string; id?: string; url?: string };
    if (d.tidings === "close") hooks.dismiss("close");
    else if (d.tidings === "esc") hooks.dismiss("esc");
    else if (d.tidings === "click" && typeof d.id === "string") hooks.press({ id: d.id, label: d.id, action: { type: "close" } });
    else if (d.tidings === "open" && typeof d.url === "string") hooks.press({ id: "link", label: "link", action: { type: "open_url", url: d.url } });
  };
  window.addEventListener("message", onMessage);
  const card = h("div", { class: "card wide", role: "dialog", "aria-modal": "true", "aria-label": "Message" }, closeButton(hooks), frame);
  const backdrop = h("div", { class: "backdrop" }, card);
  const root = shell(m, theme, "fmt-html");
  root.append(backdrop);
  return { el: root, modal: true, backdrop, destroy: () => window.removeEventListener("message", onMessage) };
};
