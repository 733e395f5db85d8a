/**
 * The targeting operators, for trigger `where` filters on event properties. Mirrors
 * tidings/targeting (operators.py, compiler.py) so spec/targeting/cases.json gives the same
 * answers here: a value of the wrong type counts as missing; `ne` and `not_in` are true for
 * a missing value, `exists` false, everything else false; case-insensitive comparisons
 * fold ASCII letters only. Behaviour, device, geo, consent, segment and percentage rules
 * are evaluated only by the server and are reported as unsupported here.
 */

import { semverKey } from "./semver";

export type ValueType = "string" | "number" | "boolean" | "datetime" | "list";

export interface Comparison {
  op: string;
  value?: unknown;
  case_insensitive?: boolean;
  type?: ValueType | null;
}

export class Unsupported extends Error {}

const DAY_MS = 86_400_000;
const DATETIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):?(\d{2}))$/;

/** Profile columns a rule may read (`$` names) and their types. */
export const BUILTIN_TYPES: Record<string, ValueType> = {
  $external_id: "string",
  $locale: "string",
  $timezone: "string",
  $country: "string",
  $region: "string",
  $city: "string",
  $session_count: "number",
  $created_at: "datetime",
  $first_seen_at: "datetime",
  $last_seen_at: "datetime",
};

const KNOWN_OPS = new Set([
  "eq", "ne", "in", "not_in", "contains", "starts_with", "exists", "gt", "gte", "lt", "lte",
  "between", "regex", "more_than_days_ago", "less_than_days_ago",
  "semver_eq", "semver_gt", "semver_gte", "semver_lt", "semver_lte",
]);

/** An ISO-8601 datetime with a zone as epoch milliseconds, or null when it is not one. */
export function parseMoment(text: unknown): number | null {
  if (typeof text !== "string") return null;
  const m = DATETIME_RE.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const s = Number(m[6] ?? 0);
  const ms = Number(((m[7] ?? "") + "000").slice(0, 3));
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  let at = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (new Date(at).getUTCDate() !== d) return null; // 31 February and friends
  if (m[8] !== "Z") {
    const offset = (Number(m[10]) * 60 + Number(m[11])) * 60_000;
    at += m[9] === "+" ? -offset : offset;
  }
  return at;
}

/** The type a comparison implies when none is declared (tidings/targeting/validate._infer). */
export function inferType(op: string, value: unknown): ValueType {
  if (op === "more_than_days_ago" || op === "less_than_days_ago") return "datetime";
  if (op.startsWith("semver_") || ["regex", "starts_with", "contains", "exists"].includes(op)) {
    return "string";
  }
  const sample = Array.isArray(value) && value.length ? value[0] : value;
  if (typeof sample === "boolean") return "boolean";
  if (typeof sample === "number") return "number";
  if (typeof sample === "string" && parseMoment(sample) !== null) return "datetime";
  return "string";
}

const GUARDS: Record<ValueType, (v: unknown) => boolean> = {
  string: (v) => typeof v === "string",
  datetime: (v) => typeof v === "string",
  number: (v) => typeof v === "number" && Number.isFinite(v),
  boolean: (v) => typeof v === "boolean",
  list: (v) => Array.isArray(v),
};

export function fold(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** A bounded pattern (validated by the server) in JavaScript: `.` matches a newline. */
export function toRegExp(pattern: string, caseInsensitive: boolean): RegExp {
  return new RegExp(pattern, caseInsensitive ? "si" : "s");
}

function plain(op: string, v: unknown, x: unknown): boolean {
  switch (op) {
    case "eq":
      return v === x;
    case "ne":
      return v !== x;
    case "in":
      return (x as unknown[]).includes(v);
    case "not_in":
      return !(x as unknown[]).includes(v);
    case "contains":
      return (v as string).includes(x as string);
    case "starts_with":
      return (v as string).startsWith(x as string);
    case "gt":
      return (v as number) > (x as number);
    case "gte":
      return (v as number) >= (x as number);
    case "lt":
      return (v as number) < (x as number);
    case "lte":
      return (v as number) <= (x as number);
    case "between": {
      const [lo, hi] = x as [number, number];
      return lo <= (v as number) && (v as number) <= hi;
    }
  }
  throw new Unsupported(`unknown operator ${op}`);
}

function listTest(op: string, v: unknown[], x: unknown, ci: boolean): boolean {
  const prep = (s: string): string => (ci ? fold(s) : s);
  const strings = v.filter((e): e is string => typeof e === "string").map(prep);
  if (op === "contains") return strings.includes(prep(x as string));
  const members = new Set((x as string[]).map(prep));
  if (op === "in") return strings.some((e) => members.has(e));
  if (op === "not_in") return !strings.some((e) => members.has(e));
  throw new Unsupported(`no list test for ${op}`);
}

/**
 * One comparison of a value read from an event (or profile); `raw` is undefined or null
 * when missing. `now` is epoch milliseconds (relative-date operators).
 */
export function compare(c: Comparison, raw: unknown, now: number): boolean {
  const { op } = c;
  if (!KNOWN_OPS.has(op)) throw new Unsupported(`unknown operator ${op}`);
  const type = c.type ?? inferType(op, c.value);
  const v = raw !== null && raw !== undefined && GUARDS[type](raw) ? raw : null;
  if (op === "exists") return (v !== null) === (c.value !== false);
  if (v === null) return op === "ne" || op === "not_in";
  const ci = c.case_insensitive === true;
  if (type === "list") return listTest(op, v as unknown[], c.value, ci);
  if (op.startsWith("semver_")) {
    const key = semverKey(v);
    const want = semverKey(c.value);
    return key !== null && want !== null && plain(op.slice(7), key, want);
  }
  if (op === "regex") return toRegExp(String(c.value), ci).test(v as string);
  if (op === "more_than_days_ago" || op === "less_than_days_ago") {
    const at = parseMoment(v);
    if (at === null) return false;
    const threshold = now - Number(c.value) * DAY_MS;
    return op === "more_than_days_ago" ? at < threshold : at > threshold;
  }
  if (type === "datetime") {
    const at = parseMoment(v);
    if (at === null) return false;
    const x = Array.isArray(c.value) ? c.value.map(parseMoment) : parseMoment(c.value);
    return plain(op, at, x);
  }
  if (ci) {
    const x = Array.isArray(c.value) ? c.value.map((s) => fold(String(s))) : fold(String(c.value));
    return plain(op, fold(v as string), x);
  }
  return plain(op, v, c.value);
}

export interface Filter extends Comparison {
  property: string;
}

/** Whether an event's properties pass every `where` filter (an empty list passes). */
export function passes(filters: readonly Filter[] | undefined, props: Record<string, unknown>, now: number): boolean {
  for (const f of filters ?? []) {
    if (!compare(f, props[f.property], now)) return false;
  }
  return true;
}

export type Rule = Record<string, unknown>;

/**
 * A rule tree of and/or/not over attribute comparisons, reading values with `read`.
 * Used for the shared spec cases; any other node kind is Unsupported.
 */
export function evaluate(rule: Rule, read: (name: string) => unknown, now: number): boolean {
  if (Array.isArray(rule.and)) return (rule.and as Rule[]).every((r) => evaluate(r, read, now));
  if (Array.isArray(rule.or)) return (rule.or as Rule[]).some((r) => evaluate(r, read, now));
  if (rule.not && typeof rule.not === "object") return !evaluate(rule.not as Rule, read, now);
  if (typeof rule.attribute === "string") {
    const known = new Set(["attribute", "op", "value", "case_insensitive", "type"]);
    for (const k of Object.keys(rule)) if (!known.has(k)) throw new Unsupported(`unknown key ${k}`);
    const name = rule.attribute;
    const type = name.startsWith("$") ? BUILTIN_TYPES[name] : ((rule.type as ValueType | undefined) ?? null);
    if (name.startsWith("$") && !type) throw new Unsupported(`unknown profile field ${name}`);
    return compare(
      { op: String(rule.op), value: rule.value, case_insensitive: rule.case_insensitive === true, type },
      read(name),
      now,
    );
  }
  throw new Unsupported(`only the server evaluates ${Object.keys(rule)[0] ?? "this"} rules`);
}
