// Per-item exponential backoff with jitter: 0.5 s, 1 s, 2 s … capped at 60 s.
export function backoffMs(attempts: number): number {
  const base = Math.min(60_000, 500 * 2 ** Math.min(attempts, 10));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
