/** Sessions: a new one after 30 minutes without activity, kept across reloads. */

import { type KV, newId, readJson, writeJson } from "./storage";

export const SESSION_TIMEOUT_MS = 30 * 60_000;
const KEY = "session";

interface Stored {
  id: string;
  last: number;
}

export class SessionTracker {
  constructor(
    private readonly kv: KV,
    private readonly timeoutMs = SESSION_TIMEOUT_MS,
    private readonly random: () => number = Math.random,
  ) {}

  /** The session at `now`, starting a new one when the last activity is too old. */
  touch(now: number): { id: string; started: boolean } {
    const stored = readJson<Stored | null>(this.kv, KEY, null);
    if (stored && typeof stored.id === "string" && now - stored.last < this.timeoutMs) {
      writeJson(this.kv, KEY, { id: stored.id, last: Math.max(now, stored.last) });
      return { id: stored.id, started: false };
    }
    const id = newId(this.random);
    writeJson(this.kv, KEY, { id, last: now });
    return { id, started: true };
  }

  /** The current session id without counting as activity (null when none or expired). */
  peek(now: number): string | null {
    const stored = readJson<Stored | null>(this.kv, KEY, null);
    return stored && now - stored.last < this.timeoutMs ? stored.id : null;
  }

  end(): void {
    this.kv.remove(KEY);
  }
}
