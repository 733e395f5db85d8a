import assert from "node:assert/strict";
import { test } from "node:test";
import { Outbox, Sender, nextBatch, type Item, type Request, type Response } from "../src/core/queue";
import { MemoryKV } from "../src/core/storage";

function ev(id: string, who = "ana"): Item {
  return { kind: "track", id, who: { external_id: who }, event: { name: "e", properties: {}, timestamp: "2026-01-01T00:00:00Z", message_id: id } };
}

function fakeTimers() {
  let now = 1_000_000;
  const pending: { at: number; fn: () => void; h: number }[] = [];
  let next = 1;
  return {
    now: () => now,
    set: (fn: () => void, ms: number) => {
      const h = next++;
      pending.push({ at: now + ms, fn, h });
      return h;
    },
    clear: (h: unknown) => {
      const i = pending.findIndex((p) => p.h === h);
      if (i >= 0) pending.splice(i, 1);
    },
    pending,
    /** Move the clock forward, running due timers. */
    advance(ms: number) {
      now += ms;
      for (const p of pending.filter((p) => p.at <= now)) {
        pending.splice(pending.indexOf(p), 1);
        p.fn();
      }
    },
  };
}

function recorder(script: Response[]) {
  const sent: Request[] = [];
  const transport = async (req: Request): Promise<Response> => {
    sent.push(req);
    return script.shift() ?? { status: 200, retryAfter: null };
  };
  return { sent, transport };
}

test("the outbox persists across instances (a reload)", () => {
  const kv = new MemoryKV();
  new Outbox(kv).push(ev("a"));
  new Outbox(kv).push(ev("b"));
  assert.deepEqual(new Outbox(kv).items().map((i) => i.id), ["a", "b"]);
  new Outbox(kv).remove(new Set(["a"]));
  assert.deepEqual(new Outbox(kv).items().map((i) => i.id), ["b"]);
});

test("the outbox is bounded: the oldest items go first", () => {
  const box = new Outbox(new MemoryKV(), "outbox", 3);
  for (const id of ["a", "b", "c", "d"]) box.push(ev(id));
  assert.deepEqual(box.items().map((i) => i.id), ["b", "c", "d"]);
});

test("a corrupt stored outbox reads as empty", () => {
  const kv = new MemoryKV();
  kv.set("outbox", "{not json");
  assert.deepEqual(new Outbox(kv).items(), []);
});

test("batches group one kind for one user, oldest first, with message ids", () => {
  const items = [ev("1"), ev("2", "bob"), ev("3")];
  const b = nextBatch(items);
  assert.ok(b);
  assert.equal(b.req.path, "/v1/track");
  const body = b.req.body as { external_id: string; events: { message_id: string }[] };
  assert.equal(body.external_id, "ana");
  assert.deepEqual(body.events.map((e) => e.message_id), ["1", "3"]);
  assert.deepEqual([...b.ids], ["1", "3"]);
});

test("interaction batches carry the session of their impressions", () => {
  const items: Item[] = [
    { kind: "interaction", id: "i1", who: { anonymous_id: "x" }, session: "s1", interaction: { type: "impression", campaign_id: 3, occurrence: 1 } },
    { kind: "interaction", id: "i2", who: { anonymous_id: "x" }, session: "s2", interaction: { type: "impression", campaign_id: 4, occurrence: 1 } },
  ];
  const b = nextBatch(items);
  assert.ok(b);
  assert.equal(b.req.path, "/v1/inapp/interactions");
  assert.deepEqual(b.req.body, { anonymous_id: "x", session_id: "s1", interactions: [items[0]?.kind === "interaction" ? items[0].interaction : null] });
});

test("sent batches leave the outbox", async () => {
  const box = new Outbox(new MemoryKV());
  box.push(ev("a"));
  box.push(ev("b", "bob"));
  const { sent, transport } = recorder([]);
  await new Sender(box, transport, fakeTimers()).flush();
  assert.equal(sent.length, 2);
  assert.equal(box.size, 0);
});

test("a network failure keeps the items and retries with backoff", async () => {
  const box = new Outbox(new MemoryKV());
  box.push(ev("a"));
  const timers = fakeTimers();
  const { sent, transport } = recorder([{ status: 0, retryAfter: null }, { status: 503, retryAfter: null }]);
  const sender = new Sender(box, transport, timers, () => 1);
  await sender.flush();
  assert.equal(box.size, 1);
  assert.equal(timers.pending[0]?.at, timers.now() + 1000);
  await sender.flush(); // not forced: waits for the timer
  assert.equal(sent.length, 1);
  timers.advance(1000);
  await new Promise((ok) => setImmediate(ok));
  assert.equal(sent.length, 2);
  assert.equal(timers.pending[0]?.at, timers.now() + 2000, "second failure doubles the wait");
  timers.advance(2000);
  await new Promise((ok) => setImmediate(ok));
  assert.equal(sent.length, 3);
  assert.equal(box.size, 0);
  assert.equal(sender.attempt, 0);
});

test("429 waits at least Retry-After", async () => {
  const box = new Outbox(new MemoryKV());
  box.push(ev("a"));
  const timers = fakeTimers();
  const { sent, transport } = recorder([{ status: 429, retryAfter: "30" }]);
  const sender = new Sender(box, transport, timers, () => 0);
  await sender.flush();
  assert.equal(timers.pending[0]?.at, timers.now() + 30_000);
  timers.advance(29_999);
  await new Promise((ok) => setImmediate(ok));
  assert.equal(sent.length, 1);
  timers.advance(1);
  await new Promise((ok) => setImmediate(ok));
  assert.equal(sent.length, 2);
  assert.equal(box.size, 0);
});

test("a forced flush (back online) does not wait for the backoff", async () => {
  const box = new Outbox(new MemoryKV());
  box.push(ev("a"));
  const timers = fakeTimers();
  const { sent, transport } = recorder([{ status: 0, retryAfter: null }]);
  const sender = new Sender(box, transport, timers);
  await sender.flush();
  await sender.flush(true);
  assert.equal(sent.length, 2);
  assert.equal(box.size, 0);
  assert.equal(timers.pending.length, 0);
});

test("a refused batch (4xx) is dropped and reported, the rest still goes", async () => {
  const box = new Outbox(new MemoryKV());
  box.push(ev("a"));
  box.push(ev("b", "bob"));
  const { sent, transport } = recorder([{ status: 422, retryAfter: null }]);
  const sender = new Sender(box, transport, fakeTimers());
  const dropped: number[] = [];
  sender.onDropped = (status) => dropped.push(status);
  await sender.flush();
  assert.deepEqual(dropped, [422]);
  assert.equal(sent.length, 2);
  assert.equal(box.size, 0);
});

test("a retried batch carries the same message ids (idempotent)", async () => {
  const box = new Outbox(new MemoryKV());
  box.push(ev("a"));
  const timers = fakeTimers();
  const { sent, transport } = recorder([{ status: 500, retryAfter: null }]);
  const sender = new Sender(box, transport, timers);
  await sender.flush();
  await sender.flush(true);
  const ids = sent.map((r) => (r.body as { events: { message_id: string }[] }).events[0]?.message_id);
  assert.deepEqual(ids, ["a", "a"]);
});
