// Group commit (src/reconciler/groupCommit.ts): calls made in one turn go in one
// flush, calls made during a flush go together in the next, each gets its own
// result, a failed flush fails only the calls in it, and with a linger window
// a call that follows a flush closely waits for company while one after a quiet
// window goes at once.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { groupCommit } from '../../src/reconciler/groupCommit.ts';

/** A flush that records its batches and waits until the test lets it finish. */
function recorder() {
  const batches: number[][] = [];
  const pending: (() => void)[] = [];
  const flush = async (items: number[]) => {
    batches.push(items);
    await new Promise<void>((r) => pending.push(r));
    if (items.includes(13)) throw new Error('unlucky batch');
    return items.map((x) => x * 10);
  };
  const finishOne = async () => {
    while (pending.length === 0) await new Promise((r) => setImmediate(r));
    pending.shift()!();
  };
  return { batches, flush, finishOne };
}

describe('groupCommit', () => {
  it('sends the calls of one turn in one flush, and those made while it runs together in the next', async () => {
    const r = recorder();
    const call = groupCommit(r.flush);
    const first = [1, 2, 3].map(call);
    await new Promise((res) => setImmediate(res));
    const second = [4, 5].map(call); // while the first flush runs
    await r.finishOne();
    expect(await Promise.all(first)).toEqual([10, 20, 30]);
    await r.finishOne();
    expect(await Promise.all(second)).toEqual([40, 50]);
    expect(r.batches).toEqual([[1, 2, 3], [4, 5]]);
  });

  it('fails only the calls of a failed flush, and goes on with the next', async () => {
    const r = recorder();
    const call = groupCommit(r.flush);
    const failing = [12, 13].map(call);
    await new Promise((res) => setImmediate(res));
    const later = call(14);
    await r.finishOne();
    for (const p of failing) await expect(p).rejects.toThrow('unlucky batch');
    await r.finishOne();
    expect(await later).toBe(140);
  });

  it('sends at most max items per flush', async () => {
    const r = recorder();
    const call = groupCommit(r.flush, { max: 2 });
    const all = Promise.all([1, 2, 3, 4, 5].map(call));
    for (let k = 0; k < 3; k++) await r.finishOne();
    expect(await all).toEqual([10, 20, 30, 40, 50]);
    expect(r.batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  describe('with a linger window', () => {
    afterEach(() => vi.useRealTimers());
    const turn = () => new Promise((res) => setImmediate(res));

    it('holds a call that follows a flush within the window until the window ends, with the calls made meanwhile', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
      const r = recorder();
      const call = groupCommit(r.flush, { lingerMs: 20 });
      const first = call(1); // idle: goes at once
      await turn();
      expect(r.batches).toEqual([[1]]);
      await r.finishOne();
      expect(await first).toBe(10);
      vi.advanceTimersByTime(5); // 5 ms after that flush ended
      const held = [call(2), call(3)];
      await turn();
      const third = call(4); // a later turn, still within the window
      await turn();
      expect(r.batches).toEqual([[1]]); // nothing sent before the window ends
      vi.advanceTimersByTime(14);
      await turn();
      expect(r.batches).toEqual([[1]]);
      vi.advanceTimersByTime(1); // 20 ms after the flush ended
      await turn();
      expect(r.batches).toEqual([[1], [2, 3, 4]]);
      await r.finishOne();
      expect(await Promise.all([...held, third])).toEqual([20, 30, 40]);
    });

    it('sends a call at once when nothing was flushed for a window', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
      const r = recorder();
      const call = groupCommit(r.flush, { lingerMs: 20 });
      const first = call(1);
      await r.finishOne();
      await first;
      vi.advanceTimersByTime(20);
      const second = call(2);
      await turn();
      expect(r.batches).toEqual([[1], [2]]);
      await r.finishOne();
      expect(await second).toBe(20);
    });
  });
});
