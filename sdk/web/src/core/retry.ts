/** Retry timing: exponential backoff with full jitter, and `Retry-After` honoured. */

export const BASE_MS = 1_000;
export const CAP_MS = 5 * 60_000;

/** A jittered delay for the given failed attempt (0-based): in [half, full] of the step. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const step = Math.min(CAP_MS, BASE_MS * 2 ** Math.min(attempt, 20));
  return Math.round(step / 2 + random() * (step / 2));
}

/** `Retry-After` (delta seconds or an HTTP date) as milliseconds from now; null if absent. */
export function retryAfterMs(header: string | null | undefined, nowMs: number): number | null {
  if (header === null || header === undefined) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, 24 * 3_600_000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.min(at - nowMs, 24 * 3_600_000));
}

/** The wait before the next attempt: never earlier than the server asked. */
export function nextDelayMs(
  attempt: number,
  retryAfter: number | null,
  random: () => number = Math.random,
): number {
  if (retryAfter !== null) return retryAfter + Math.round(random() * 250);
  return backoffMs(attempt, random);
}

/** Whether a response status is worth retrying (server trouble or rate limits). */
export function retryable(status: number): boolean {
  return status === 0 || status === 408 || status === 425 || status === 429 || status >= 500;
}
