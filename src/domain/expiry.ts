// Expiry of a cluster: the expiry a request asks for, and the warning a
// cluster carries before it expires. Pure.
import { invalid } from './errors.ts';

export type Expiry = { at: Date; action: 'stop' | 'delete' };
export type ClusterWarning = { code: 'expiring' | 'expired'; message: string; at: string };

/**
 * What a cluster warns of: within `windowSeconds` of its expiry, that it will
 * be stopped or deleted then; past it (a stop), that it was.
 */
export function clusterWarnings(expiry: Expiry | null, now: Date, windowSeconds: number): ClusterWarning[] {
  if (!expiry) return [];
  const at = expiry.at.toISOString();
  const left = expiry.at.getTime() - now.getTime();
  if (left <= 0) {
    return [{ code: 'expired', message: `Cluster expired at ${at}; it was ${expiry.action === 'delete' ? 'deleted' : 'stopped'} then`, at }];
  }
  if (left > windowSeconds * 1000) return [];
  return [{ code: 'expiring', message: `Cluster expires at ${at} and will then be ${expiry.action === 'delete' ? 'deleted' : 'stopped'}`, at }];
}

const invalidExpiry = (name: string, msg: string) => invalid([{ loc: ['body', name], msg, type: 'value_error' }]);

/**
 * An expiry as asked on create or PUT .../expiry: a time to come (RFC 3339 with
 * its offset) and an action (default stop); null clears it. 422 naming the field otherwise.
 */
export function checkExpiry(input: { expires_at?: string | null; expire_action?: 'stop' | 'delete' }, now: Date): { at: Date; action: 'stop' | 'delete' } | null {
  if (input.expires_at === undefined || input.expires_at === null) {
    if (input.expire_action !== undefined) throw invalidExpiry('expire_action', 'applies only with expires_at');
    return null;
  }
  const at = rfc3339(input.expires_at);
  if (!at) throw invalidExpiry('expires_at', 'must be a date and time with its offset (RFC 3339), such as 2027-01-15T18:00:00Z');
  if (at.getTime() <= now.getTime()) throw invalidExpiry('expires_at', `must be in the future (it is ${now.toISOString()} now)`);
  return { at, action: input.expire_action ?? 'stop' };
}

/** An RFC 3339 time with its offset, or null (a day or time that does not exist included: no rolling 30 February over into March). */
function rfc3339(text: string): Date | null {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?(?:Z|[+-](\d\d):(\d\d))$/i.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, sec, oh, om] = m.slice(1).map((v) => (v === undefined ? 0 : Number(v))) as number[];
  const daysInMonth = new Date(Date.UTC(y!, mo!, 0)).getUTCDate();
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > daysInMonth || h! > 23 || mi! > 59 || sec! > 59 || oh! > 23 || om! > 59) return null;
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? null : at;
}
