// A cluster's expiry: what a request may set, and the warning it carries.
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.ts';
import { checkExpiry, clusterWarnings } from '../../src/domain/expiry.ts';

const now = new Date('2027-01-15T12:00:00Z');
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as DomainError).problems;
  }
  throw new Error('not refused');
};

describe('checkExpiry', () => {
  it('takes a time to come with its offset, the action defaulting to stop; null or nothing clears', () => {
    expect(checkExpiry({ expires_at: '2027-01-15T14:00:00+01:00' }, now)).toEqual({ at: new Date('2027-01-15T13:00:00Z'), action: 'stop' });
    expect(checkExpiry({ expires_at: '2027-01-16T00:00:00.5Z', expire_action: 'delete' }, now)).toEqual({ at: new Date('2027-01-16T00:00:00.500Z'), action: 'delete' });
    expect(checkExpiry({ expires_at: null }, now)).toBeNull();
    expect(checkExpiry({}, now)).toBeNull();
  });
  it('refuses a time past or now, one without an offset, and an action alone, naming the field', () => {
    expect(refusal(() => checkExpiry({ expires_at: '2027-01-15T12:00:00Z' }, now))).toEqual([{ loc: ['body', 'expires_at'], msg: 'must be in the future (it is 2027-01-15T12:00:00.000Z now)', type: 'value_error' }]);
    expect(refusal(() => checkExpiry({ expires_at: '2027-01-16T12:00:00' }, now))).toMatchObject([{ loc: ['body', 'expires_at'], msg: expect.stringMatching(/offset/) }]);
    expect(refusal(() => checkExpiry({ expires_at: '2027-02-30T12:00:00Z' }, now))).toMatchObject([{ loc: ['body', 'expires_at'] }]);
    expect(refusal(() => checkExpiry({ expire_action: 'delete' }, now))).toMatchObject([{ loc: ['body', 'expire_action'] }]);
  });
});

describe('clusterWarnings', () => {
  const at = new Date('2027-01-15T13:00:00Z');
  it('warns within the window, not before; says what will happen', () => {
    expect(clusterWarnings({ at, action: 'delete' }, now, 3600)).toEqual([{ code: 'expiring', at: at.toISOString(), message: 'Cluster expires at 2027-01-15T13:00:00.000Z and will then be deleted' }]);
    expect(clusterWarnings({ at, action: 'stop' }, now, 3599)).toEqual([]);
    expect(clusterWarnings({ at, action: 'stop' }, now, 0)).toEqual([]);
    expect(clusterWarnings(null, now, 86_400)).toEqual([]);
  });
  it('says it expired once past', () => {
    expect(clusterWarnings({ at, action: 'stop' }, new Date('2027-01-15T13:00:01Z'), 0)).toMatchObject([{ code: 'expired', message: expect.stringMatching(/stopped/) }]);
  });
});
