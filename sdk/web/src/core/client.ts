/**
 * The SDK's engine without the DOM: identity, sessions, the outbox, decisions and local
 * triggers. The browser wiring (src/index.ts) supplies storage, fetch, timers and the URL.
 */

import { Http, type FetchLike } from "./http";
import { Outbox, Sender, type Timers } from "./queue";
import { SessionTracker } from "./session";
import { type KV, newId, readJson, writeJson } from "./storage";
import { fired, type Occurrence } from "./triggers";
import type { DecidedMessage, Decision, Identity, Inbox, Interaction } from "./types";

export const SDK_VERSION = "0.1.0";

export interface Config {
  appKey: string;
  host: string;
  userId?: string;
  userHash?: string;
  locale?: string;
}

export interface Environment {
  kv: KV;
  fetch: FetchLike;
  timers: Timers;
  url(): string;
  random?: () => number;
  /** Auto-captured facts sent with the device registration. */
  device?: Record<string, unknown>;
  timezone?: string;
}

const SHOWN_KEY = "shown";

export class Core {
  readonly http: Http;
  readonly outbox: Outbox;
  readonly sender: Sender;
  readonly sessions: SessionTracker;
  decision: Decision | null = null;
  /** Called with each message whose trigger fired (after its delay). */
  present: (m: DecidedMessage) => void = () => {};
  private readonly random: () => number;
  private decided: Promise<void> | null = null;
  private pending = new Set<unknown>();

  constructor(
    readonly config: Config,
    readonly env: Environment,
  ) {
    this.random = env.random ?? Math.random;
    this.http = new Http(config.host, config.appKey, env.fetch);
    this.outbox = new Outbox(env.kv);
    this.sender = new Sender(this.outbox, this.http.transport(), env.timers, this.random);
    this.sessions = new SessionTracker(env.kv, undefined, this.random);
    if (config.userId) {
      env.kv.set("external_id", config.userId);
      if (config.userHash) env.kv.set("user_hash", config.userHash);
    }
  }

  /** The anonymous id is made once per browser and kept until `reset`. */
  get anonymousId(): string {
    let id = this.env.kv.get("anonymous_id");
    if (!id) {
      id = newId(this.random);
      this.env.kv.set("anonymous_id", id);
    }
    return id;
  }

  identity(): Identity {
    const who: Identity = {};
    const external = this.env.kv.get("external_id");
    if (external) {
      who.external_id = external;
      const hash = this.env.kv.get("user_hash");
      if (hash) who.user_hash = hash;
    } else {
      who.anonymous_id = this.anonymousId;
    }
    return who;
  }

  get deviceId(): string {
    let id = this.env.kv.get("device_id");
    if (!id) {
      id = newId(this.random);
      this.env.kv.set("device_id", id);
    }
    return id;
  }

  /** The session now; a new one is started (and `$session_start` tracked) when due. */
  session(): string {
    const { id, started } = this.sessions.touch(this.env.timers.now());
    if (started) {
      this.enqueueEvent("$session_start", { url: this.env.url() }, id);
      this.decided = null;
      void this.refresh(id).then(() => this.occur({ kind: "session_start" }));
    }
    return id;
  }

  /** Identify (create) the user and register this device, then decide for the session. */
  async start(): Promise<void> {
    await this.sendIdentify({});
    await this.registerDevice();
    this.session();
    await this.ready();
  }

  /** Resolves once the current session's decision has been asked for. */
  ready(): Promise<void> {
    return this.decided ?? this.refresh(this.session());
  }

  async identify(userId: string, attributes: Record<string, unknown> = {}, userHash?: string): Promise<void> {
    const anonymous = this.anonymousId;
    this.env.kv.set("external_id", userId);
    if (userHash) this.env.kv.set("user_hash", userHash);
    else this.env.kv.remove("user_hash");
    await this.sendIdentify({ attributes, anonymous_id: anonymous });
    await this.registerDevice();
    await this.refresh(this.session());
  }

  /** Forget the user (log out): a new anonymous id, session and device. */
  reset(): void {
    for (const key of ["external_id", "user_hash", "anonymous_id", SHOWN_KEY]) this.env.kv.remove(key);
    this.sessions.end();
    this.decision = null;
    this.decided = null;
    for (const h of this.pending) this.env.timers.clear(h);
    this.pending.clear();
  }

  track(name: string, properties: Record<string, unknown> = {}): void {
    const session = this.session();
    this.enqueueEvent(name, properties, session);
    void this.sender.flush();
    void this.ready().then(() => this.occur({ kind: "event", name, properties }));
  }

  page(url: string = this.env.url(), properties: Record<string, unknown> = {}): void {
    const session = this.session();
    this.enqueueEvent("$page_view", { url, ...properties }, session);
    void this.sender.flush();
    void this.ready().then(() => this.occur({ kind: "page_view", url }));
  }

  /** Show messages whose trigger is an explicit SDK call with this name. */
  trigger(name: string): void {
    void this.ready().then(() => this.occur({ kind: "sdk_call", name }));
  }

  record(i: Interaction): void {
    const session = i.type === "impression" ? this.session() : this.sessions.peek(this.env.timers.now());
    this.outbox.push({ kind: "interaction", id: newId(this.random), who: this.identity(), session, interaction: i });
    void this.sender.flush();
  }

  async inbox(): Promise<Inbox | null> {
    const q = new URLSearchParams(this.identity() as Record<string, string>);
    if (this.config.locale) q.set("locale", this.config.locale);
    const r = await this.http.call<Inbox>("GET", `/v1/inapp/inbox?${q}`);
    return r.status === 200 ? r.body : null;
  }

  /** Whether this showing was already displayed on this browser (kept across reloads). */
  wasShown(m: DecidedMessage): boolean {
    return readJson<string[]>(this.env.kv, SHOWN_KEY, []).includes(`${m.campaign_id}:${m.occurrence}`);
  }

  markShown(m: DecidedMessage): void {
    const shown = readJson<string[]>(this.env.kv, SHOWN_KEY, []);
    shown.push(`${m.campaign_id}:${m.occurrence}`);
    writeJson(this.env.kv, SHOWN_KEY, shown.slice(-200));
  }

  /** Evaluate an occurrence against the decided messages; fire each after its delay. */
  occur(o: Occurrence): void {
    const messages = this.decision?.messages ?? [];
    for (const m of fired(messages, o, this.env.url(), this.env.timers.now())) {
      if (this.wasShown(m)) continue;
      const delay = Math.max(m.trigger.delay_seconds ?? 0, m.display.delay_seconds ?? 0) * 1000;
      if (delay === 0) {
        this.present(m);
        continue;
      }
      const h = this.env.timers.set(() => {
        this.pending.delete(h);
        // Still on an allowed page after the delay?
        if (fired([m], o, this.env.url(), this.env.timers.now()).length) this.present(m);
      }, delay);
      this.pending.add(h);
    }
  }

  /** A message that arrived on the live stream: shown now unless it has a trigger to wait for. */
  live(m: DecidedMessage): void {
    if (this.decision) {
      this.decision.messages = this.decision.messages.filter((x) => x.campaign_id !== m.campaign_id);
      this.decision.messages.push(m);
    }
    if (m.trigger.type === "session_start") this.occur({ kind: "session_start" });
  }

  private enqueueEvent(name: string, properties: Record<string, unknown>, session: string): void {
    const id = newId(this.random);
    this.outbox.push({
      kind: "track",
      id,
      who: this.identity(),
      event: {
        name,
        properties: { ...properties, session_id: session },
        timestamp: new Date(this.env.timers.now()).toISOString(),
        message_id: id,
      },
    });
  }

  private async sendIdentify(extra: Record<string, unknown>): Promise<void> {
    const body: Record<string, unknown> = { ...this.identity(), ...extra };
    if (this.config.locale) body.locale = this.config.locale;
    if (this.env.timezone) body.timezone = this.env.timezone;
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await this.http.call("POST", "/v1/identify", body);
      if (r.status === 200 || (r.status >= 400 && r.status < 500 && r.status !== 429)) return;
      await new Promise<void>((ok) => this.env.timers.set(() => ok(), 500 * (attempt + 1)));
    }
  }

  private async registerDevice(): Promise<void> {
    await this.http.call("POST", "/v1/devices", {
      ...this.identity(),
      device_id: this.deviceId,
      platform: "web",
      sdk_version: SDK_VERSION,
      ...(this.config.locale ? { locale: this.config.locale } : {}),
      ...(this.env.timezone ? { timezone: this.env.timezone } : {}),
      ...(this.env.device ?? {}),
    });
  }

  private refresh(session: string): Promise<void> {
    const asked = (async () => {
      const body: Record<string, unknown> = { ...this.identity(), session_id: session };
      if (this.config.locale) body.locale = this.config.locale;
      const r = await this.http.call<Decision>("POST", "/v1/inapp/decide", body);
      if (r.status === 200 && r.body) this.decision = r.body;
    })();
    this.decided = asked;
    return asked;
  }
}
