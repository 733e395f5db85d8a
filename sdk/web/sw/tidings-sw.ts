/**
 * The Tidings service worker: shows Web Push notifications and reports clicks as opens
 * (`POST /v1/push/opened` with the push's `data.tidings_id`). Registered by
 * `Tidings.push.subscribe()` with the host, write key and
 * user in its URL.
 */

const sw = self as unknown as ServiceWorkerGlobalScope;

const params = new URL(sw.location.href).searchParams;

interface Payload {
  title?: string;
  body?: string;
  image?: string;
  url?: string;
  tag?: string;
  actions?: { action: string; title: string }[];
  data?: Record<string, unknown>;
}

sw.addEventListener("push", (event: PushEvent) => {
  let p: Payload = {};
  try {
    p = (event.data?.json() ?? {}) as Payload;
  } catch {
    p = { body: event.data?.text() ?? "" };
  }
  const options: NotificationOptions & { image?: string; actions?: unknown } = {
    body: p.body ?? "",
    data: { url: p.url ?? null, data: p.data ?? {} },
  };
  if (p.image) options.image = p.image;
  if (p.tag) options.tag = p.tag;
  if (p.actions) options.actions = p.actions;
  event.waitUntil(sw.registration.showNotification(p.title ?? "", options));
});

sw.addEventListener("notificationclick", (event: NotificationEvent) => {
  event.notification.close();
  const d = (event.notification.data ?? {}) as { url?: string | null; data?: Record<string, unknown> };
  const host = params.get("host");
  const key = params.get("key");
  const id = Number(d.data?.tidings_id);
  const who: Record<string, string> = {};
  for (const k of ["external_id", "anonymous_id", "user_hash"]) {
    const v = params.get(k);
    if (v) who[k] = v;
  }
  // The open is reported against the push's delivery (its `data.tidings_id`).
  const report =
    host && key && Number.isInteger(id) && id > 0
      ? fetch(`${host.replace(/\/+$/, "")}/v1/push/opened`, {
          method: "POST",
          headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
          body: JSON.stringify({ ...who, delivery_id: id, ...(event.action ? { action_id: event.action } : {}) }),
        }).catch(() => undefined)
      : Promise.resolve(undefined);
  const open = d.url ? sw.clients.openWindow(d.url) : Promise.resolve(null);
  event.waitUntil(Promise.all([report, open]));
});

export {};
