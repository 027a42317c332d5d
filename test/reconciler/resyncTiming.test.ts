// When the periodic resync runs (src/reconciler/resyncTiming.ts): at its time
// unless work is due; while work is due it waits, looking again every few
// seconds, but never more than one period past its time.
import { describe, expect, it } from 'vitest';
import { periodicResync, RESYNC_RECHECK_MS } from '../../src/reconciler/resyncTiming.ts';

const PERIOD = 300_000;

describe('the periodic resync', () => {
  it('runs at its time when no work is due, or when that could not be read', () => {
    expect(periodicResync(false, 0, PERIOD)).toEqual({ run: true });
    expect(periodicResync(null, 0, PERIOD)).toEqual({ run: true });
    expect(periodicResync(false, 120_000, PERIOD)).toEqual({ run: true });
  });

  it('waits while work is due, looking again every few seconds', () => {
    expect(periodicResync(true, 0, PERIOD)).toEqual({ run: false, recheckMs: RESYNC_RECHECK_MS });
    expect(periodicResync(true, 100_000, PERIOD)).toEqual({ run: false, recheckMs: RESYNC_RECHECK_MS });
  });

  it('waits at most one period past its time', () => {
    expect(periodicResync(true, PERIOD - 2_000, PERIOD)).toEqual({ run: false, recheckMs: 2_000 });
    expect(periodicResync(true, PERIOD, PERIOD)).toEqual({ run: true });
    // A short period (tests): the wait is cut to what is left of it.
    expect(periodicResync(true, 0, 3_000)).toEqual({ run: false, recheckMs: 3_000 });
    expect(periodicResync(true, 3_000, 3_000)).toEqual({ run: true });
  });

  it('summed, the waits of a resync put off by work that never ends come to exactly one period', () => {
    let waited = 0;
    let looks = 0;
    for (let t = periodicResync(true, 0, PERIOD); !t.run; t = periodicResync(true, waited, PERIOD)) {
      waited += t.recheckMs;
      looks++;
    }
    expect(waited).toBe(PERIOD);
    expect(looks).toBe(PERIOD / RESYNC_RECHECK_MS);
  });
});
