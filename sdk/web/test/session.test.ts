import assert from "node:assert/strict";
import { test } from "node:test";
import { SESSION_TIMEOUT_MS, SessionTracker } from "../src/core/session";
import { MemoryKV } from "../src/core/storage";

test("activity within 30 minutes keeps the session", () => {
  const s = new SessionTracker(new MemoryKV());
  const a = s.touch(0);
  assert.equal(a.started, true);
  const b = s.touch(SESSION_TIMEOUT_MS - 1);
  assert.deepEqual(b, { id: a.id, started: false });
  // Activity slides the window.
  assert.equal(s.touch(2 * SESSION_TIMEOUT_MS - 2).id, a.id);
});

test("30 minutes of inactivity starts a new session", () => {
  const s = new SessionTracker(new MemoryKV());
  const a = s.touch(0);
  const b = s.touch(SESSION_TIMEOUT_MS);
  assert.equal(b.started, true);
  assert.notEqual(b.id, a.id);
});

test("the session survives a reload (same storage)", () => {
  const kv = new MemoryKV();
  const a = new SessionTracker(kv).touch(1000);
  const b = new SessionTracker(kv).touch(2000);
  assert.deepEqual(b, { id: a.id, started: false });
});

test("peek does not extend the session", () => {
  const s = new SessionTracker(new MemoryKV());
  const a = s.touch(0);
  assert.equal(s.peek(SESSION_TIMEOUT_MS - 1), a.id);
  assert.equal(s.peek(SESSION_TIMEOUT_MS), null);
});
