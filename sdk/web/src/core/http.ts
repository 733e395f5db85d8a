/** HTTP to Tidings with the app's write key; failures come back as values, never throws. */

import type { Request, Response, Transport } from "./queue";

export type FetchLike = (url: string, init: {
  method: string;
  headers: Record<string, string>;
  body?: string;
  keepalive?: boolean;
}) => Promise<{ status: number; headers: { get(name: string): string | null }; json(): Promise<unknown> }>;

export interface Reply<T> {
  status: number; // 0: the network failed
  retryAfter: string | null;
  body: T | null;
}

export class Http {
  constructor(
    private readonly host: string,
    private readonly appKey: string,
    private readonly fetchFn: FetchLike,
  ) {}

  async call<T>(method: "GET" | "POST", path: string, body?: unknown, keepalive = false): Promise<Reply<T>> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.appKey}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const res = await this.fetchFn(this.host.replace(/\/+$/, "") + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        keepalive,
      });
      let parsed: T | null = null;
      try {
        parsed = (await res.json()) as T;
      } catch {
        parsed = null;
      }
      return { status: res.status, retryAfter: res.headers.get("retry-after"), body: parsed };
    } catch {
      return { status: 0, retryAfter: null, body: null };
    }
  }

  /** The outbox's transport. */
  transport(): Transport {
    return async (req: Request): Promise<Response> => {
      const r = await this.call("POST", req.path, req.body, req.unloading === true);
      return { status: r.status, retryAfter: r.retryAfter };
    };
  }
}
