/**
 * The outbox: events and interactions persisted before sending, sent in batches, retried
 * with backoff until the server has them. Each item carries its own id (the event's
 * `message_id`; interactions are idempotent by campaign and occurrence on the server), so
 * a batch sent twice (a lost response, two tabs) is stored once.
 */

import { type KV, readJson, writeJson } from "./storage";
import { nextDelayMs, retryAfterMs, retryable } from "./retry";
import type { Identity, Interaction } from "./types";

export const MAX_ITEMS = 1_000;
export const BATCH = 50;

export interface TrackItem {
  kind: "track";
  id: string;
  who: Identity;
  event: { name: string; properties: Record<string, unknown>; timestamp: string; message_id: string };
}

export interface InteractionItem {
  kind: "interaction";
  id: string;
  who: Identity;
  session: string | null;
  interaction: Interaction;
}

export type Item = TrackItem | InteractionItem;

export interface Request {
  path: string;
  body: unknown;
  /** Sent while the page is being hidden: must not wait for the response. */
  unloading?: boolean;
}

export interface Response {
  status: number; // 0: the network failed
  retryAfter: string | null;
}

export type Transport = (req: Request) => Promise<Response>;

/** The persisted list of unsent items, oldest first, bounded (the oldest are dropped). */
export class Outbox {
  constructor(
    private readonly kv: KV,
    private readonly key = "outbox",
    private readonly max = MAX_ITEMS,
  ) {}

  items(): Item[] {
    const items = readJson<Item[]>(this.kv, this.key, []);
    return Array.isArray(items) ? items : [];
  }

  push(item: Item): void {
    const items = this.items();
    items.push(item);
    writeJson(this.kv, this.key, items.length > this.max ? items.slice(-this.max) : items);
  }

  remove(ids: Set<string>): void {
    writeJson(
      this.kv,
      this.key,
      this.items().filter((i) => !ids.has(i.id)),
    );
  }

  get size(): number {
    return this.items().length;
  }
}

/** The next batch: items of one kind for one user (and session), oldest first. */
export function nextBatch(items: Item[], limit = BATCH): { req: Request; ids: Set<string> } | null {
  const first = items[0];
  if (!first) return null;
  const sameWho = (a: Identity, b: Identity): boolean =>
    a.external_id === b.external_id && a.anonymous_id === b.anonymous_id;
  const ids = new Set<string>();
  if (first.kind === "track") {
    const events: TrackItem["event"][] = [];
    for (const item of items) {
      if (events.length >= limit) break;
      if (item.kind === "track" && sameWho(item.who, first.who)) {
        events.push(item.event);
        ids.add(item.id);
      }
    }
    return { req: { path: "/v1/track", body: { ...first.who, events, sent_at: new Date().toISOString() } }, ids };
  }
  const interactions: Interaction[] = [];
  for (const item of items) {
    if (interactions.length >= limit) break;
    if (item.kind === "interaction" && sameWho(item.who, first.who) && item.session === first.session) {
      interactions.push(item.interaction);
      ids.add(item.id);
    }
  }
  const body: Record<string, unknown> = { ...first.who, interactions };
  if (first.session) body.session_id = first.session;
  return { req: { path: "/v1/inapp/interactions", body }, ids };
}

export interface Timers {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/**
 * Sends the outbox, batch after batch. A retryable failure waits (backoff or Retry-After)
 * and keeps the items; a refused batch (4xx) is dropped so one bad event cannot block
 * the rest forever.
 */
export class Sender {
  attempt = 0;
  private timer: unknown = null;
  private running: Promise<void> | null = null;
  waitingUntil: number | null = null;
  onDropped: (status: number, items: number) => void = () => {};

  constructor(
    private readonly outbox: Outbox,
    private readonly transport: Transport,
    private readonly timers: Timers,
    private readonly random: () => number = Math.random,
  ) {}

  /** Send what is queued now (unless a retry wait is pending and `force` is false). */
  flush(force = false): Promise<void> {
    if (this.running) return this.running;
    if (this.waitingUntil !== null && !force) return Promise.resolve();
    this.cancelWait();
    this.running = this.drain().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Hand everything to the transport without waiting (page hide); kept until confirmed. */
  sendUnloading(): void {
    const items = this.outbox.items();
    const batch = nextBatch(items);
    if (batch) void this.transport({ ...batch.req, unloading: true }).then((r) => {
      if (r.status >= 200 && r.status < 300) this.outbox.remove(batch.ids);
    });
  }

  private cancelWait(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    this.waitingUntil = null;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const batch = nextBatch(this.outbox.items());
      if (!batch) {
        this.attempt = 0;
        return;
      }
      const res = await this.transport(batch.req);
      if (res.status >= 200 && res.status < 300) {
        this.outbox.remove(batch.ids);
        this.attempt = 0;
        continue;
      }
      if (retryable(res.status)) {
        const delay = nextDelayMs(this.attempt, retryAfterMs(res.retryAfter, this.timers.now()), this.random);
        this.attempt += 1;
        this.waitingUntil = this.timers.now() + delay;
        this.timer = this.timers.set(() => {
          this.timer = null;
          this.waitingUntil = null;
          void this.flush();
        }, delay);
        return;
      }
      this.outbox.remove(batch.ids);
      this.onDropped(res.status, batch.ids.size);
    }
  }
}
