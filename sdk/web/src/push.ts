/**
 * The Web Push helper: a soft in-app explainer before the browser's own prompt, then the
 * subscription registered as this device's push address. The service worker must be
 * served from the host app's origin (copy /sdk/tidings-sw.js there, or proxy it).
 */

import type { Core } from "./core/client";
import type { DecidedMessage } from "./core/types";
import type { Presenter } from "./ui/presenter";

export interface PushOptions {
  /** The app's VAPID public key; fetched from Tidings (`/sdk/push-key`) when absent. */
  vapidPublicKey?: string;
  /** Where the host app serves the service worker (default `/tidings-sw.js`). */
  serviceWorker?: string;
  /** The soft prompt's text, or false to go straight to the browser's prompt. */
  explainer?: { title?: string; body?: string; allow?: string; later?: string } | false;
}

function keyBytes(base64url: string): Uint8Array {
  const b64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** Ask with an in-app card first; resolves true when the user chose to continue. */
function explain(p: Presenter | null, opts: PushOptions): Promise<boolean> {
  if (!p || opts.explainer === false) return Promise.resolve(true);
  const e = opts.explainer ?? {};
  return new Promise((resolve) => {
    const m: DecidedMessage = {
      campaign_id: 0,
      variant: "push-explainer",
      occurrence: 1,
      format: "slideup",
      priority: 0,
      exempt_from_budget: true,
      locale: document.documentElement.lang || "en",
      trigger: { type: "sdk_call", name: "push" },
      display: { delay_seconds: 0, only_on_pages: [], blocking: false },
      content: {
        format: "slideup",
        title: e.title ?? "Stay in the loop",
        body: e.body ?? "Turn on notifications to hear about replies and updates. You can turn them off at any time.",
        buttons: [
          { id: "allow", label: e.allow ?? "Turn on", action: { type: "close" } },
          { id: "later", label: e.later ?? "Not now", style: "secondary", action: { type: "close" } },
        ],
      },
    };
    const off = p.onLocal((kind, button) => {
      off();
      resolve(kind === "click" && button === "allow");
    });
    p.show(m);
  });
}

export async function subscribePush(core: Core, opts: PushOptions, p: Presenter | null): Promise<boolean> {
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return false;
  if (Notification.permission === "denied") return false;
  if (Notification.permission === "default") {
    if (!(await explain(p, opts))) return false;
    if ((await Notification.requestPermission()) !== "granted") return false;
  }
  let key = opts.vapidPublicKey;
  if (!key) {
    const r = await core.http.call<{ public_key: string }>("GET", "/sdk/push-key");
    key = r.body?.public_key;
  }
  if (!key) return false;
  const who = core.identity();
  const q = new URLSearchParams({ host: core.config.host, key: core.config.appKey, ...(who as Record<string, string>) });
  const reg = await navigator.serviceWorker.register(`${opts.serviceWorker ?? "/tidings-sw.js"}?${q}`);
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) as BufferSource });
  const r = await core.http.call("POST", "/v1/devices", {
    ...who,
    device_id: core.deviceId,
    platform: "web",
    push: { provider: "webpush", address: sub.toJSON() },
  });
  return r.status === 200;
}
