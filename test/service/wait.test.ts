// ?wait= (src/service/wait.ts) is woken by recorded changes, not a fixed poll:
// with the fallback poll far beyond the test, a wait still answers once a
// change is notified, having looked only once before it and once after. No
// clock is asserted: a wait that ignored the notification would not answer.
import { describe, expect, it } from 'vitest';
import type { Convergence } from '../../src/domain/convergence.ts';
import { createLocalChanges } from '../../src/service/changes.ts';
import { waitUntil } from '../../src/service/wait.ts';

describe('waiting for convergence', () => {
  it('looks again when a change is recorded, not on a timer', async () => {
    const changes = createLocalChanges();
    let state: Convergence = 'waiting';
    let checks = 0;
    const check = async () => {
      checks++;
      return state;
    };
    const waiting = waitUntil(check, 600, { changes, fallbackPollMs: 600_000 });
    while (checks === 0) await new Promise((r) => setTimeout(r, 1));
    // Let the first look finish and the wait go to sleep (a change heard during a look is looked at right after it).
    await new Promise((r) => setTimeout(r, 50));
    state = 'converged';
    changes.notify();
    const out = await waiting;
    expect(out.converged).toBe(true);
    expect(checks).toBe(2);
  });

  it('says failed at once when the check says so, and lets go of the notifier', async () => {
    const changes = createLocalChanges();
    let held = 0;
    const counting = {
      subscribe: (fn: () => void) => {
        held++;
        const off = changes.subscribe(fn);
        return () => {
          held--;
          off();
        };
      },
    };
    const out = await waitUntil(async () => 'failed', 600, { changes: counting });
    expect(out).toMatchObject({ converged: false, failed: true });
    expect(held).toBe(0);
  });

  it('without a notifier still answers when the time is up', async () => {
    const out = await waitUntil(async () => 'waiting' as Convergence, 0);
    expect(out).toMatchObject({ converged: false });
    expect(out.failed).toBeUndefined();
  });
});
