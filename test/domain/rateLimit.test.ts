// Token-bucket arithmetic (src/domain/rateLimit.ts) and the in-memory buckets
// built on it (src/service/rateLimiter.ts), on a clock the tests move.
import { describe, expect, it } from 'vitest';
import { refill, secondsUntilToken } from '../../src/domain/rateLimit.ts';
import { RateLimiter } from '../../src/service/rateLimiter.ts';

const limit = { perSecond: 2, burst: 4 };

describe('token-bucket arithmetic', () => {
  it('refills at the rate, never past the burst', () => {
    expect(refill(0, 1, limit)).toBe(2);
    expect(refill(0.5, 0.25, limit)).toBe(1);
    expect(refill(3, 10, limit)).toBe(4);
    expect(refill(4, 0, limit)).toBe(4);
  });
  it('waits whole seconds, at least one, until a token is there', () => {
    expect(secondsUntilToken(0, limit)).toBe(1);
    expect(secondsUntilToken(0.99, limit)).toBe(1);
    expect(secondsUntilToken(0, { perSecond: 0.1, burst: 1 })).toBe(10);
    expect(secondsUntilToken(0.5, { perSecond: 0.1, burst: 1 })).toBe(5);
    expect(secondsUntilToken(-3, { perSecond: 1, burst: 1 })).toBe(4);
  });
});

describe('in-memory rate limiter', () => {
  const clock = () => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('allows a burst, then says how long to wait', () => {
    const c = clock();
    const r = new RateLimiter(limit, c.now);
    for (let i = 0; i < 4; i++) expect(r.take('a')).toBe(0);
    expect(r.take('a')).toBe(1);
    c.advance(500);
    expect(r.take('a')).toBe(0);
    expect(r.take('a')).toBe(1);
  });
  it('keeps one bucket per key', () => {
    const r = new RateLimiter({ perSecond: 1, burst: 1 }, clock().now);
    expect(r.take('a')).toBe(0);
    expect(r.take('a')).toBe(1);
    expect(r.take('b')).toBe(0);
  });
  it('refills no further than the burst after a long pause', () => {
    const c = clock();
    const r = new RateLimiter(limit, c.now);
    r.take('a');
    c.advance(3_600_000);
    for (let i = 0; i < 4; i++) expect(r.take('a')).toBe(0);
    expect(r.take('a')).toBeGreaterThan(0);
  });
  it('forgets full buckets once it holds many, and keeps the ones in use', () => {
    const c = clock();
    const r = new RateLimiter({ perSecond: 1, burst: 2 }, c.now);
    r.take('busy');
    r.take('busy');
    for (let i = 0; i < 50_000; i++) r.take(`k${i}`);
    c.advance(5_000); // every bucket but the next one is full again
    r.take('busy');
    r.take('busy');
    r.take('new');
    expect(r.size).toBeLessThanOrEqual(2);
    expect(r.take('busy')).toBe(1); // its state survived the sweep
  });
});
