// The per-user caps that keep one tenant from starving the others (OWASP
// API4): what is capped, how the refusal reads, and when to try again. The
// counting is elsewhere: live tokens in the database (src/store/tokens.ts,
// under the user's row lock), held connections one row each, counted across
// every replica (src/service/holds.ts).

export type CappedThing = 'tokens' | 'event_streams' | 'waits';

/** The setting that sets each cap, named in every refusal. */
export const CAP_SETTING: Record<CappedThing, string> = {
  tokens: 'KUBEKLOUD_MAX_TOKENS_PER_USER',
  event_streams: 'KUBEKLOUD_MAX_EVENT_STREAMS_PER_USER',
  waits: 'KUBEKLOUD_MAX_WAITS_PER_USER',
};

/** Retry-After when no held thing is known to end sooner: a token lives until revoked, a stream until closed. */
export const DEFAULT_CAP_RETRY_SECONDS: Record<CappedThing, number> = { tokens: 60, event_streams: 10, waits: 1 };

/** The message of a 429 at a cap: how many are held, the cap, and what frees one. */
export function capMessage(thing: CappedThing, held: number, cap: number): string {
  switch (thing) {
    case 'tokens':
      return `You have ${held} live tokens, the most a user may hold (${cap}, ${CAP_SETTING.tokens}); revoke one first (DELETE /api/v1/users/me/tokens/{id})`;
    case 'event_streams':
      return `You have ${held} event streams open, the most a user may hold (${cap}, ${CAP_SETTING.event_streams}); close one first`;
    case 'waits':
      return `You have ${held} requests waiting with ?wait=, the most a user may hold (${cap}, ${CAP_SETTING.waits}); retry without ?wait= and watch the events, or retry when one has answered`;
  }
}

/** Whole seconds until `untilMs` (at least 1), or the default when nothing is known to end. */
export function retryAfterSeconds(thing: CappedThing, nowMs: number, untilMs: number | null): number {
  if (untilMs === null) return DEFAULT_CAP_RETRY_SECONDS[thing];
  return Math.max(1, Math.ceil((untilMs - nowMs) / 1000));
}
