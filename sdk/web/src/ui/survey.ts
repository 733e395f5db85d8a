/** The survey: every question kind, required-answer validation, then a thank-you page. */

import type { Question, SurveyMessage } from "../core/types";
import { h } from "./dom";
import { author, closeButton, type Renderer, shell, uid } from "./view";

type Answer = number | string | string[] | undefined;

function question(q: Question, set: (v: Answer) => void): HTMLElement {
  const errId = uid("t-err");
  const box = h("fieldset", { class: "q", "data-question": q.id, "aria-describedby": errId });
  box.append(h("legend", {}, q.prompt, q.required === false ? "" : h("span", { class: "sr" }, " (required)")));
  if (q.kind === "nps" || q.kind === "rating") {
    const lo = q.kind === "nps" ? 0 : 1;
    const hi = q.kind === "nps" ? 10 : (q.scale ?? 5);
    const opts: HTMLElement[] = [];
    for (let v = lo; v <= hi; v++) {
      const b = h(
        "button",
        {
          class: "opt",
          type: "button",
          "aria-pressed": "false",
          "aria-label": q.kind === "rating" ? `${v} of ${hi}` : String(v),
          onclick: () => {
            opts.forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
            set(v);
          },
        },
        q.kind === "rating" ? `${v} ★` : String(v),
      );
      opts.push(b);
    }
    box.append(h("div", { class: q.kind === "nps" ? "scale nps" : "scale" }, opts));
    if (q.kind === "nps") box.append(h("div", { class: "ends" }, h("span", {}, "Not likely"), h("span", {}, "Very likely")));
  } else if (q.kind === "single_choice" || q.kind === "multi_choice") {
    const name = uid("t-q");
    const chosen = new Set<string>();
    for (const opt of q.options ?? []) {
      const input = h("input", { type: q.kind === "single_choice" ? "radio" : "checkbox", name, value: opt }) as HTMLInputElement;
      input.addEventListener("change", () => {
        if (q.kind === "single_choice") set(opt);
        else {
          if (input.checked) chosen.add(opt);
          else chosen.delete(opt);
          set(chosen.size ? [...chosen] : undefined);
        }
      });
      box.append(h("label", { class: "choice" }, input, opt));
    }
  } else {
    const area = h("textarea", { "aria-label": q.prompt, maxlength: 2000 }) as HTMLTextAreaElement;
    area.addEventListener("input", () => set(area.value.trim() ? area.value.trim() : undefined));
    box.append(area);
  }
  box.append(h("div", { class: "err", id: errId, role: "alert" }));
  return box;
}

export const survey: Renderer = (m, hooks, theme) => {
  const c = m.content as SurveyMessage;
  const titleId = uid("t-title");
  const answers: Record<string, Answer> = {};
  const boxes = c.questions.map((q) => question(q, (v) => {
    answers[q.id] = v;
    const err = boxes[c.questions.indexOf(q)]?.querySelector(".err");
    if (err && v !== undefined) err.textContent = "";
  }));
  const pad = h("div", { class: "pad" });
  const form = h("form", { novalidate: true }, boxes, h("div", { class: "actions" }, h("button", { class: "btn", type: "submit" }, "Submit")));
  pad.append(author(c) ?? "", c.title ? h("h2", { class: "title", id: titleId, style: "margin-bottom:18px" }, c.title) : "", form);
  const card = h(
    "div",
    { class: "card", role: "dialog", "aria-modal": "true", "aria-labelledby": c.title ? titleId : null, "aria-label": c.title ? null : "Survey" },
    closeButton(hooks),
    pad,
  );
  let submitted = false;
  function submit(): void {
    let firstBad: HTMLElement | null = null;
    c.questions.forEach((q, i) => {
      const box = boxes[i] as HTMLElement;
      const missing = q.required !== false && answers[q.id] === undefined;
      box.setAttribute("aria-invalid", String(missing));
      (box.querySelector(".err") as HTMLElement).textContent = missing ? "Please answer this question." : "";
      if (missing && !firstBad) firstBad = box;
    });
    if (firstBad) {
      ((firstBad as HTMLElement).querySelector("button,input,textarea") as HTMLElement | null)?.focus();
      return;
    }
    submitted = true;
    const given = Object.fromEntries(Object.entries(answers).filter(([, v]) => v !== undefined));
    hooks.report("answer", { answers: given });
    const ty = c.thank_you ?? {};
    const done = h("button", { class: "btn", type: "button", onclick: () => hooks.done() }, "Close");
    pad.replaceChildren(
      h("div", { class: "thanks", role: "status" }, h("div", { class: "check", "aria-hidden": "true" }, "✓"), h("h2", { class: "title", id: titleId }, ty.title ?? "Thank you!"), ty.body ? h("p", { class: "body" }, ty.body) : "", h("div", { class: "actions" }, done)),
    );
    done.focus();
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  const backdrop = h("div", { class: "backdrop" }, card);
  const root = shell(m, theme, "fmt-survey");
  root.append(backdrop);
  return { el: root, modal: true, backdrop, submit, key: () => submitted && false };
};
