import assert from "node:assert/strict";
import { test } from "node:test";
import { fired, pageAllowed, triggerMatches, urlMatches } from "../src/core/triggers";
import type { DecidedMessage, Trigger } from "../src/core/types";

const NOW = Date.parse("2026-03-08T12:00:00Z");

function msg(id: number, trigger: Trigger, priority = 100, pages: string[] = []): DecidedMessage {
  return {
    campaign_id: id, variant: "a", occurrence: 1, format: "modal", priority, exempt_from_budget: false, locale: "en",
    trigger, display: { delay_seconds: trigger.delay_seconds ?? 0, only_on_pages: pages, blocking: true },
    content: { format: "modal", title: "t" },
  };
}

test("url globs: * is any run, ? one character, paths or whole URLs", () => {
  assert.ok(urlMatches("/billing/*", "https://app.test/billing/plans"));
  assert.ok(urlMatches("/billing/*", "https://app.test/billing/plans/pro?x=1"));
  assert.ok(!urlMatches("/billing/*", "https://app.test/settings/billing/x"));
  assert.ok(urlMatches("/docs/v?", "https://app.test/docs/v2"));
  assert.ok(urlMatches("https://*.test/*", "https://app.test/a"));
  assert.ok(urlMatches("/", "https://app.test"));
  assert.ok(!urlMatches("/a.b", "https://app.test/aXb"), "dots are literal");
  assert.ok(urlMatches("/search?q=*", "https://app.test/search?q=shoes"));
});

test("only_on_pages: empty allows every page", () => {
  assert.ok(pageAllowed([], "https://x.test/a"));
  assert.ok(pageAllowed(["/a", "/b/*"], "https://x.test/b/c"));
  assert.ok(!pageAllowed(["/a"], "https://x.test/b"));
});

test("event triggers match the name and every where filter", () => {
  const t: Trigger = { type: "event", event: "limit_hit", where: [
    { property: "feature", op: "eq", value: "export" },
    { property: "count", op: "gte", value: 3 },
  ] };
  assert.ok(triggerMatches(t, { kind: "event", name: "limit_hit", properties: { feature: "export", count: 3 } }, NOW));
  assert.ok(!triggerMatches(t, { kind: "event", name: "limit_hit", properties: { feature: "export", count: 2 } }, NOW));
  assert.ok(!triggerMatches(t, { kind: "event", name: "limit_hit", properties: { feature: "import", count: 9 } }, NOW));
  assert.ok(!triggerMatches(t, { kind: "event", name: "other", properties: { feature: "export", count: 9 } }, NOW));
});

test("page, screen, session and sdk_call triggers", () => {
  assert.ok(triggerMatches({ type: "page_view", url: "/pricing" }, { kind: "page_view", url: "https://a.test/pricing" }, NOW));
  assert.ok(!triggerMatches({ type: "page_view", url: "/pricing" }, { kind: "page_view", url: "https://a.test/pricing/x" }, NOW));
  assert.ok(triggerMatches({ type: "screen_view", screen: "Home" }, { kind: "screen_view", screen: "Home" }, NOW));
  assert.ok(triggerMatches({ type: "session_start" }, { kind: "session_start" }, NOW));
  assert.ok(!triggerMatches({ type: "session_start" }, { kind: "sdk_call", name: "x" }, NOW));
  assert.ok(triggerMatches({ type: "sdk_call", name: "help" }, { kind: "sdk_call", name: "help" }, NOW));
});

test("fired: highest priority first, only on allowed pages, unknown operators never fire", () => {
  const ms = [
    msg(1, { type: "session_start" }, 10),
    msg(2, { type: "session_start" }, 900),
    msg(3, { type: "session_start" }, 500, ["/only-here"]),
    msg(4, { type: "event", event: "e", where: [{ property: "p", op: "bigger", value: 1 }] }),
  ];
  const got = fired(ms, { kind: "session_start" }, "https://a.test/home", NOW).map((m) => m.campaign_id);
  assert.deepEqual(got, [2, 1]);
  assert.deepEqual(fired(ms, { kind: "event", name: "e", properties: { p: 2 } }, "https://a.test/", NOW), []);
});
