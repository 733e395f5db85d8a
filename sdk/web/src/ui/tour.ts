/**
 * The product tour: each step highlights its anchor (scrolled into view, repositioned on
 * resize and scroll) with a tip beside it. A step whose anchor is missing is skipped and
 * reported (`tour_step_skipped`), so a changed page never traps the user.
 */

import type { TourMessage, TourStep } from "../core/types";
import { h } from "./dom";
import { closeButton, type Renderer, shell, uid } from "./view";

const GAP = 12;

function anchorOf(step: TourStep): Element | null {
  if (!step.anchor.selector) return null; // a `screen` anchor is for the mobile SDKs
  try {
    const el = document.querySelector(step.anchor.selector);
    return el && el.getClientRects().length > 0 ? el : null;
  } catch {
    return null;
  }
}

export const tour: Renderer = (m, hooks, theme) => {
  const c = m.content as TourMessage;
  const root = shell(m, theme, "fmt-tour");
  const spot = h("div", { class: "spot", "aria-hidden": "true" });
  const titleId = uid("t-title");
  const tip = h("div", { class: "tip", role: "dialog", "aria-modal": "true", "aria-labelledby": titleId });
  root.append(spot, tip);
  let at = -1;
  let anchor: Element | null = null;
  const skipped = new Set<number>();

  function place(): void {
    const step = c.steps[at];
    if (!step) return;
    const vw = window.innerWidth;
    const vh = window.innerHeight;
    const t = tip.getBoundingClientRect();
    if (!anchor || step.placement === "center") {
      spot.style.display = anchor ? "" : "none";
      tip.style.left = `${Math.max(12, (vw - t.width) / 2)}px`;
      tip.style.top = `${Math.max(12, (vh - t.height) / 2)}px`;
      if (!anchor) return;
    }
    const r = anchor.getBoundingClientRect();
    spot.style.display = "";
    Object.assign(spot.style, {
      left: `${r.left - 6}px`,
      top: `${r.top - 6}px`,
      width: `${r.width + 12}px`,
      height: `${r.height + 12}px`,
    });
    if (step.placement === "center") return;
    let placement = step.placement ?? "bottom";
    if (placement === "bottom" && r.bottom + GAP + t.height > vh) placement = "top";
    else if (placement === "top" && r.top - GAP - t.height < 0) placement = "bottom";
    let left = r.left + r.width / 2 - t.width / 2;
    let top = r.bottom + GAP;
    if (placement === "top") top = r.top - GAP - t.height;
    if (placement === "left" || placement === "right") {
      top = r.top + r.height / 2 - t.height / 2;
      left = placement === "left" ? r.left - GAP - t.width : r.right + GAP;
    }
    tip.style.left = `${Math.max(12, Math.min(vw - t.width - 12, left))}px`;
    tip.style.top = `${Math.max(12, Math.min(vh - t.height - 12, top))}px`;
  }

  function show(i: number, dir: 1 | -1): void {
    let k = i;
    // Skip steps whose anchor is missing, in the direction of travel.
    while (k >= 0 && k < c.steps.length) {
      const step = c.steps[k] as TourStep;
      anchor = anchorOf(step);
      if (anchor || step.placement === "center") break;
      if (!skipped.has(k)) {
        skipped.add(k);
        hooks.notice("tour_step_skipped", { step: k, selector: step.anchor.selector ?? step.anchor.screen ?? null });
      }
      k += dir;
    }
    if (k >= c.steps.length) {
      hooks.report("tour_completed", {});
      hooks.done();
      return;
    }
    if (k < 0) return; // nothing before: stay
    at = k;
    const step = c.steps[at] as TourStep;
    const last = !c.steps.slice(at + 1).some((s) => anchorOf(s) || s.placement === "center");
    const first = !c.steps.slice(0, at).some((s) => anchorOf(s) || s.placement === "center");
    tip.replaceChildren(
      closeButton(hooks, "Skip tour"),
      step.title ? h("h2", { class: "title", id: titleId }, step.title) : h("span", { id: titleId, class: "sr" }, "Tour"),
      h("p", { class: "body" }, step.body),
      h(
        "div",
        { class: "actions" },
        c.show_progress === false ? h("span", { class: "progress" }) : h("span", { class: "progress" }, `${at + 1} of ${c.steps.length}`),
        first ? null : h("button", { class: "btn secondary", type: "button", "data-tour": "back", onclick: () => show(at - 1, -1) }, "Back"),
        h(
          "button",
          { class: "btn", type: "button", "data-tour": last ? "done" : "next", onclick: () => show(at + 1, 1) },
          last ? "Done" : "Next",
        ),
      ),
    );
    anchor?.scrollIntoView({ block: "center", inline: "nearest", behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth" });
    hooks.report("step_seen", { step: at });
    requestAnimationFrame(place);
    place();
    (tip.querySelector('[data-tour="next"],[data-tour="done"]') as HTMLElement | null)?.focus();
  }

  const onMove = (): void => place();
  window.addEventListener("resize", onMove);
  window.addEventListener("scroll", onMove, true);
  queueMicrotask(() => show(0, 1));
  return {
    el: root,
    modal: true,
    next: () => show(at + 1, 1),
    previous: () => show(at - 1, -1),
    destroy: () => {
      window.removeEventListener("resize", onMove);
      window.removeEventListener("scroll", onMove, true);
    },
  };
};
