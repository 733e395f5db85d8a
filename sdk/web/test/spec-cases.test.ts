/**
 * spec/targeting/cases.json through the SDK's operator evaluator: the same answers as the
 * Python and SQL compilers. Skipped, with the reason, are rules only the server evaluates
 * (behaviour `event` aggregates, `device`, `consent`, `near`, `segment`, `percentage`) and
 * the validation-error cases (rules are validated when a campaign is saved; the SDK only
 * ever receives validated filters).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { evaluate, parseMoment, type Rule } from "../src/core/targeting";

type Case = [string, Rule, Record<string, unknown>, string, boolean | { error: string; code: string }];
const CASES = JSON.parse(readFileSync(new URL("../../../spec/targeting/cases.json", import.meta.url), "utf8")) as Case[];

const SERVER_ONLY = ["event", "device", "consent", "near", "segment", "percentage"];

function serverOnly(rule: unknown): string | null {
  if (!rule || typeof rule !== "object") return null;
  const r = rule as Record<string, unknown>;
  for (const k of ["and", "or"]) {
    if (Array.isArray(r[k])) {
      for (const c of r[k] as unknown[]) {
        const why = serverOnly(c);
        if (why) return why;
      }
      return null;
    }
  }
  if (r.not) return serverOnly(r.not);
  return SERVER_ONLY.find((k) => k in r) ?? null;
}

function reader(profile: Record<string, unknown>) {
  return (name: string): unknown =>
    name.startsWith("$") ? profile[name.slice(1)] : (profile.attributes as Record<string, unknown> | undefined)?.[name];
}

const ran: string[] = [];
const skipped: Record<string, string[]> = {};

for (const [name, rule, profile, now, expected] of CASES) {
  const why = typeof expected === "object" ? "a validation error (server-side, on save)" : serverOnly(rule) ? `a \`${serverOnly(rule)}\` rule (server only)` : null;
  if (why) {
    (skipped[why] ??= []).push(name);
    test(name, { skip: why }, () => {});
    continue;
  }
  ran.push(name);
  test(name, () => {
    const at = parseMoment(now);
    assert.ok(at !== null);
    assert.equal(evaluate(rule, reader(profile), at), expected);
  });
}

test("the spec's property-filter cases all ran", () => {
  assert.ok(ran.length >= 120, `ran ${ran.length}`);
  const reasons = Object.entries(skipped).map(([why, names]) => `${names.length} × ${why}`);
  console.log(`spec/targeting/cases.json: ${ran.length} run, skipped: ${reasons.join("; ")}`);
});
