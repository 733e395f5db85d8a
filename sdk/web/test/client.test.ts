import assert from "node:assert/strict";
import { test } from "node:test";
import { Core } from "../src/core/client";
import type { FetchLike } from "../src/core/http";
import { SESSION_TIMEOUT_MS } from "../src/core/session";
import { MemoryKV } from "../src/core/storage";
import type { DecidedMessage } from "../src/core/types";

function message(id: number, trigger: DecidedMessage["trigger"]): DecidedMessage {
  return {
    campaign_id: id, variant: "a", occurrence: 1, format: "modal", priority: 100, exempt_from_budget: false,
    locale: "en", trigger, display: { delay_seconds: trigger.delay_seconds ?? 0, only_on_pages: [], blocking: true },
    content: { format: "modal", title: `m${id}` },
  };
}

function harness(messages: DecidedMessage[]) {
  const calls: { url: string; body: Record<string, unknown> | null }[] = [];
  let now = 1_700_000_000_000;
  const timers: { at: number; fn: () => void }[] = [];
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, body: init.body ? JSON.parse(init.body) : null });
    const body = url.endsWith("/v1/inapp/decide")
      ? { user_id: 1, session_id: "x", messages, budget: null }
      : { ok: true };
    return { status: 200, headers: { get: () => null }, json: async () => body };
  };
  const kv = new MemoryKV();
  const core = new Core(
    { appKey: "tdw_test", host: "https://tidings.test/", userId: "ana", locale: "fa-IR" },
    {
      kv,
      fetch,
      url: () => "https://app.test/home",
      timers: {
        now: () => now,
        set: (fn, ms) => timers.push({ at: now + ms, fn }),
        clear: () => {},
      },
      timezone: "Asia/Tehran",
    },
  );
  const shown: number[] = [];
  core.present = (m) => shown.push(m.campaign_id);
  return {
    core, calls, shown, kv,
    advance(ms: number) {
      now += ms;
      for (const t of timers.filter((t) => t.at <= now)) {
        timers.splice(timers.indexOf(t), 1);
        t.fn();
      }
    },
  };
}

const settle = () => new Promise((ok) => setImmediate(ok));

test("start identifies, registers the device, then decides and fires session_start", async () => {
  const h = harness([message(1, { type: "session_start" }), message(2, { type: "sdk_call", name: "x" })]);
  await h.core.start();
  await settle();
  const paths = h.calls.map((c) => new URL(c.url).pathname);
  assert.deepEqual(paths.slice(0, 3), ["/v1/identify", "/v1/devices", "/v1/inapp/decide"]);
  assert.equal(h.calls[0]?.body?.external_id, "ana");
  assert.equal(h.calls[0]?.body?.timezone, "Asia/Tehran");
  assert.equal(h.calls[1]?.body?.platform, "web");
  assert.equal(h.calls[2]?.body?.locale, "fa-IR");
  assert.deepEqual(h.shown, [1]);
  h.core.trigger("x");
  await settle();
  assert.deepEqual(h.shown, [1, 2]);
});

test("an event trigger waits for its delay", async () => {
  const h = harness([message(3, { type: "event", event: "saved", delay_seconds: 5 })]);
  await h.core.start();
  h.core.track("saved", {});
  await settle();
  assert.deepEqual(h.shown, []);
  h.advance(4_999);
  assert.deepEqual(h.shown, []);
  h.advance(1);
  assert.deepEqual(h.shown, [3]);
});

test("a showing already displayed on this browser is not shown again", async () => {
  const h = harness([message(4, { type: "sdk_call", name: "x" })]);
  await h.core.start();
  const m = h.core.decision?.messages[0];
  assert.ok(m);
  h.core.markShown(m);
  h.core.trigger("x");
  await settle();
  assert.deepEqual(h.shown, []);
});

test("30 minutes idle: the next event starts a session, tracked and decided anew", async () => {
  const h = harness([]);
  await h.core.start();
  const first = h.core.session();
  h.advance(SESSION_TIMEOUT_MS);
  h.core.track("back", {});
  await settle();
  const second = h.core.session();
  assert.notEqual(first, second);
  const decides = h.calls.filter((c) => c.url.endsWith("/v1/inapp/decide"));
  assert.deepEqual(decides.map((c) => c.body?.session_id), [first, second]);
  const events = h.calls
    .filter((c) => c.url.endsWith("/v1/track"))
    .flatMap((c) => (c.body?.events as { name: string; properties: { session_id: string } }[]));
  const starts = events.filter((e) => e.name === "$session_start").map((e) => e.properties.session_id);
  assert.deepEqual(starts, [first, second]);
  assert.ok(events.some((e) => e.name === "back" && e.properties.session_id === second));
});

test("identify keeps the anonymous id for the merge; reset forgets the user", async () => {
  const h = harness([]);
  h.kv.remove("external_id");
  const anonymous = h.core.anonymousId;
  await h.core.identify("bob", { plan: "pro" });
  const identify = h.calls.filter((c) => c.url.endsWith("/v1/identify")).pop();
  assert.equal(identify?.body?.external_id, "bob");
  assert.equal(identify?.body?.anonymous_id, anonymous);
  h.core.reset();
  assert.equal(h.core.identity().external_id, undefined);
  assert.notEqual(h.core.identity().anonymous_id, anonymous);
});
