/** Trigger evaluation on the device: which decided messages an occurrence sets off. */

import { passes } from "./targeting";
import type { DecidedMessage, Trigger } from "./types";

export type Occurrence =
  | { kind: "session_start" }
  | { kind: "event"; name: string; properties: Record<string, unknown> }
  | { kind: "page_view"; url: string }
  | { kind: "screen_view"; screen: string }
  | { kind: "sdk_call"; name: string };

/**
 * A URL glob as a RegExp: `*` is any run of characters, `?` one character. A glob that
 * starts with `/` matches the path (and query), anything else the whole URL.
 */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (const c of glob) {
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else out += c.replace(/[.+^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${out.replace(/(\.\*)+/g, ".*")}$`);
}

/** Whether `url` (absolute) matches the glob. */
export function urlMatches(glob: string, url: string): boolean {
  let target = url;
  if (glob.startsWith("/")) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^#]*)/i.exec(url);
    target = m ? m[1] || "/" : url;
    if (!glob.includes("?")) target = target.split("?")[0] as string;
  }
  return globToRegExp(glob).test(target);
}

export function pageAllowed(onlyOnPages: readonly string[] | undefined, url: string): boolean {
  return !onlyOnPages || onlyOnPages.length === 0 || onlyOnPages.some((g) => urlMatches(g, url));
}

export function triggerMatches(t: Trigger, o: Occurrence, now: number): boolean {
  switch (t.type) {
    case "session_start":
      return o.kind === "session_start";
    case "event":
      return o.kind === "event" && o.name === t.event && passes(
        (t.where ?? []).map((f) => ({ ...f, op: f.op })),
        o.properties,
        now,
      );
    case "page_view":
      return o.kind === "page_view" && typeof t.url === "string" && urlMatches(t.url, o.url);
    case "screen_view":
      return o.kind === "screen_view" && o.screen === t.screen;
    case "sdk_call":
      return o.kind === "sdk_call" && o.name === t.name;
  }
  return false;
}

/** The messages an occurrence sets off on this page, highest priority first. */
export function fired(
  messages: readonly DecidedMessage[],
  o: Occurrence,
  url: string,
  now: number,
): DecidedMessage[] {
  return messages
    .filter((m) => {
      try {
        return triggerMatches(m.trigger, o, now) && pageAllowed(m.display.only_on_pages, url);
      } catch {
        return false; // a filter this SDK version does not know never fires
      }
    })
    .sort((a, b) => b.priority - a.priority);
}
