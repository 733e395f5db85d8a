import assert from "node:assert/strict";
import { test } from "node:test";
import { BASE_MS, CAP_MS, backoffMs, nextDelayMs, retryAfterMs, retryable } from "../src/core/retry";

test("backoff doubles per attempt, jittered within [half, full] of the step", () => {
  assert.equal(backoffMs(0, () => 0), BASE_MS / 2);
  assert.equal(backoffMs(0, () => 1), BASE_MS);
  assert.equal(backoffMs(3, () => 1), BASE_MS * 8);
  assert.equal(backoffMs(3, () => 0), BASE_MS * 4);
});

test("backoff is capped", () => {
  assert.equal(backoffMs(50, () => 1), CAP_MS);
  assert.equal(backoffMs(1000, () => 0.5), Math.round(CAP_MS * 0.75));
});

test("jitter spreads clients out", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 20; i++) seen.add(backoffMs(4));
  assert.ok(seen.size > 1);
});

test("Retry-After in seconds and as an HTTP date", () => {
  const now = Date.parse("2026-03-08T12:00:00Z");
  assert.equal(retryAfterMs("7", now), 7000);
  assert.equal(retryAfterMs("Sun, 08 Mar 2026 12:00:30 GMT", now), 30_000);
  assert.equal(retryAfterMs("Sun, 08 Mar 2026 11:00:00 GMT", now), 0);
  assert.equal(retryAfterMs(null, now), null);
  assert.equal(retryAfterMs("soon", now), null);
});

test("the next delay never comes before Retry-After", () => {
  for (const r of [0, 0.5, 0.999]) {
    const d = nextDelayMs(0, 5000, () => r);
    assert.ok(d >= 5000 && d < 5300, String(d));
  }
  assert.equal(nextDelayMs(2, null, () => 1), BASE_MS * 4);
});

test("what is worth retrying", () => {
  for (const s of [0, 408, 429, 500, 502, 503]) assert.ok(retryable(s), String(s));
  for (const s of [400, 401, 403, 404, 413, 422]) assert.ok(!retryable(s), String(s));
});
