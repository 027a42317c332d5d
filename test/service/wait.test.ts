// ?wait= (src/service/wait.ts) is woken by recorded changes, not a fixed poll:
// with the fallback poll far beyond the test, a wait still answers once a
// change is notified, having looked only once before it and once after. No
// clock is asserted: a wait that ignored the notification would not answer.
import { describe, expect, it } from 'vitest';
import type { Convergence } from '../../src/domain/convergence.ts';
import type { ChangeNotifier } from '../../src/service/changes.ts';
import { waitUntil } from '../../src/service/wait.ts';

/** Changes told by the test: what the notifications tell a wait (src/service/notifications.ts). */
function toldChanges(up = true) {
  const listeners = new Set<(id: number | null) => void>();
  const changes: Omit<ChangeNotifier, 'up'> & { up: boolean; tell(id: number | null): void; subscribers(): number } = {
    up,
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    tell(id) {
      for (const fn of [...listeners]) fn(id);
    },
    subscribers: () => listeners.size,
  };
  return changes;
}

describe('waiting for convergence', () => {
  it('looks again when a change of its cluster is heard, not on a timer', async () => {
    const changes = toldChanges();
    let state: Convergence = 'waiting';
    let checks = 0;
    const check = async () => {
      checks++;
      return state;
    };
    const waiting = waitUntil(check, 600, { changes, clusterId: 7, fallbackPollMs: 1 });
    while (checks === 0) await new Promise((r) => setTimeout(r, 1));
    // Let the first look finish and the wait go to sleep (a change heard during a look is looked at right after it).
    await new Promise((r) => setTimeout(r, 50));
    state = 'converged';
    // Another cluster's change does not wake it; its own does.
    changes.tell(8);
    await new Promise((r) => setTimeout(r, 50));
    expect(checks).toBe(1);
    changes.tell(7);
    const out = await waiting;
    expect(out.converged).toBe(true);
    expect(checks).toBe(2);
  });

  it('says failed at once when the check says so, and lets go of the notifier', async () => {
    const changes = toldChanges();
    const out = await waitUntil(async () => 'failed', 600, { changes });
    expect(out).toMatchObject({ converged: false, failed: true });
    expect(changes.subscribers()).toBe(0);
  });

  it('polls while changes cannot be heard, and stops polling once they can', async () => {
    const changes = toldChanges(false);
    let checks = 0;
    let state: Convergence = 'waiting';
    const waiting = waitUntil(
      async () => {
        checks++;
        return state;
      },
      600,
      { changes, fallbackPollMs: 1 },
    );
    // Down: it looks again on its own.
    while (checks < 3) await new Promise((r) => setTimeout(r, 5));
    // Up again (told as "anything may have changed"): it looks once more, then only on changes.
    changes.up = true;
    changes.tell(null);
    await new Promise((r) => setTimeout(r, 300));
    const settled = checks;
    await new Promise((r) => setTimeout(r, 300));
    expect(checks).toBe(settled);
    state = 'converged';
    changes.tell(1);
    expect((await waiting).converged).toBe(true);
  });

  it('without a notifier still answers when the time is up', async () => {
    const out = await waitUntil(async () => 'waiting' as Convergence, 0);
    expect(out).toMatchObject({ converged: false });
    expect(out.failed).toBeUndefined();
  });
});
