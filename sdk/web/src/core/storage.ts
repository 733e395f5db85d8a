/** A small key-value store (localStorage in browsers, a Map in tests and private modes). */

export interface KV {
  get(key: string): string | null;
  set(key: string, value: string): void;
  remove(key: string): void;
}

export class MemoryKV implements KV {
  private readonly data = new Map<string, string>();
  get(key: string): string | null {
    return this.data.has(key) ? (this.data.get(key) as string) : null;
  }
  set(key: string, value: string): void {
    this.data.set(key, value);
  }
  remove(key: string): void {
    this.data.delete(key);
  }
}

/** Wraps a Storage-like object; quota errors and disabled storage fall back to memory. */
export class SafeKV implements KV {
  private readonly fallback = new MemoryKV();
  constructor(
    private readonly inner: KV | null,
    private readonly prefix = "tidings:",
  ) {}
  get(key: string): string | null {
    try {
      const v = this.inner?.get(this.prefix + key);
      if (v !== null && v !== undefined) return v;
    } catch {
      /* storage disabled: memory only */
    }
    return this.fallback.get(key);
  }
  set(key: string, value: string): void {
    this.fallback.set(key, value);
    try {
      this.inner?.set(this.prefix + key, value);
    } catch {
      /* quota or disabled: kept in memory for this page */
    }
  }
  remove(key: string): void {
    this.fallback.remove(key);
    try {
      this.inner?.remove(this.prefix + key);
    } catch {
      /* ignore */
    }
  }
}

export function readJson<T>(kv: KV, key: string, fallback: T): T {
  const raw = kv.get(key);
  if (raw === null) return fallback;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return fallback;
  }
}

export function writeJson(kv: KV, key: string, value: unknown): void {
  kv.set(key, JSON.stringify(value));
}

/** A random id (RFC 4122 v4 shape) from the given source of randomness. */
export function newId(random: () => number = Math.random): string {
  const hex = "0123456789abcdef";
  let out = "";
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) out += "-";
    else if (i === 14) out += "4";
    else if (i === 19) out += hex[8 + Math.floor(random() * 4)];
    else out += hex[Math.floor(random() * 16)];
  }
  return out;
}
