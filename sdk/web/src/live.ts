/** The live stream (SSE over fetch, since EventSource cannot send the write key header). */

import type { Http } from "./core/http";
import { backoffMs } from "./core/retry";
import type { DecidedMessage, Identity } from "./core/types";

export function connectLive(
  host: string,
  appKey: string,
  who: () => Identity,
  session: () => string,
  onMessage: (m: DecidedMessage) => void,
): () => void {
  let stopped = false;
  let attempt = 0;
  let controller: AbortController | null = null;
  async function run(): Promise<void> {
    while (!stopped) {
      controller = new AbortController();
      const q = new URLSearchParams({ ...(who() as Record<string, string>), session_id: session() });
      try {
        const res = await fetch(`${host.replace(/\/+$/, "")}/v1/inapp/stream?${q}`, {
          headers: { Authorization: `Bearer ${appKey}`, Accept: "text/event-stream" },
          signal: controller.signal,
        });
        if (!res.ok || !res.body) throw new Error(String(res.status));
        attempt = 0;
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut: number;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const chunk = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let name = "message";
            let data = "";
            for (const line of chunk.split("\n")) {
              if (line.startsWith("event: ")) name = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (name === "message" && data) {
              try {
                onMessage(JSON.parse(data) as DecidedMessage);
              } catch {
                /* a malformed event is skipped */
              }
            }
          }
        }
      } catch {
        /* reconnect below */
      }
      if (stopped) return;
      await new Promise((ok) => setTimeout(ok, backoffMs(attempt++)));
    }
  }
  void run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}

export type { Http };
