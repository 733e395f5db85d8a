/** The carousel: pages with arrows, dots, arrow keys and swipe. */

import type { CarouselMessage } from "../core/types";
import { h } from "./dom";
import { closeButton, image, pageBody, type Renderer, shell, uid } from "./view";

export const carousel: Renderer = (m, hooks, theme) => {
  const c = m.content as CarouselMessage;
  const root = shell(m, theme, "fmt-carousel");
  const rtl = root.getAttribute("dir") === "rtl";
  const labelId = uid("t-title");
  let at = 0;
  const slides = c.pages.map((p, i) =>
    h(
      "div",
      { class: "slide", role: "group", "aria-roledescription": "slide", "aria-label": `${i + 1} of ${c.pages.length}` },
      image(p.image_url),
      pageBody(p, hooks, i === 0 ? labelId : uid("t-title"), i === 0 ? c : undefined),
    ),
  );
  const track = h("div", { class: "track" }, slides);
  const dots = c.pages.map((_, i) =>
    h("button", { class: "dot", type: "button", "aria-label": `Page ${i + 1}`, onclick: () => go(i) }),
  );
  const prev = h("button", { class: "arrow", type: "button", "aria-label": "Previous", onclick: () => go(at - 1) }, "‹");
  const next = h("button", { class: "arrow", type: "button", "aria-label": "Next", onclick: () => go(at + 1) }, "›");
  const live = h("div", { class: "sr", "aria-live": "polite" });

  function go(i: number): void {
    at = Math.max(0, Math.min(c.pages.length - 1, i));
    track.style.transform = `translateX(${(rtl ? 100 : -100) * at}%)`;
    slides.forEach((s, k) => {
      s.setAttribute("aria-hidden", String(k !== at));
      s.inert = k !== at;
    });
    dots.forEach((d, k) => d.setAttribute("aria-current", String(k === at)));
    (prev as HTMLButtonElement).disabled = at === 0;
    (next as HTMLButtonElement).disabled = at === c.pages.length - 1;
    live.textContent = `Page ${at + 1} of ${c.pages.length}`;
  }

  let startX: number | null = null;
  const slidesBox = h("div", { class: "slides" }, track);
  slidesBox.addEventListener("pointerdown", (e) => {
    startX = e.clientX;
  });
  slidesBox.addEventListener("pointerup", (e) => {
    if (startX === null) return;
    const dx = e.clientX - startX;
    startX = null;
    if (Math.abs(dx) > 40) go(at + ((dx < 0) !== rtl ? 1 : -1));
  });

  const card = h(
    "div",
    { class: "card", role: "dialog", "aria-modal": "true", "aria-roledescription": "carousel", "aria-labelledby": labelId },
    slidesBox,
    closeButton(hooks),
    h("div", { class: "nav" }, prev, h("div", { class: "dots" }, dots), next),
    live,
  );
  if (c.pages[0]?.image_url) card.querySelector(".x")?.classList.add("on-media");
  const backdrop = h("div", { class: "backdrop" }, card);
  root.append(backdrop);
  go(0);
  return {
    el: root,
    modal: true,
    backdrop,
    next: () => go(at + 1),
    previous: () => go(at - 1),
    key: (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return false;
      go(at + ((e.key === "ArrowRight") !== rtl ? 1 : -1));
      return true;
    },
  };
};
