// Cron expressions in a time zone (croner, pinned in package.json): checked
// when a schedule is made, and their next times for the scheduler.
import { Cron } from 'croner';

export type CronSpec = { cron: string; timeZone: string };

/** Whether `zone` is an IANA time zone name this runtime knows. */
export function timeZoneProblem(zone: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    return `'${zone}' is not an IANA time zone (such as UTC, Europe/Paris or America/New_York)`;
  }
  return null;
}

/** Why `cron` cannot be a schedule's expression, or null. Five fields, or six with seconds first. */
export function cronProblem(cron: string): string | null {
  const fields = cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) return `must have five fields (minute hour day-of-month month day-of-week) or six (seconds first); it has ${fields}`;
  try {
    const next = pattern({ cron, timeZone: 'UTC' }).nextRun(new Date());
    if (!next) return 'never matches a time';
  } catch (err) {
    return `is not a cron expression: ${(err as Error).message.replace(/^CronPattern: /, '')}`;
  }
  return null;
}

const pattern = (s: CronSpec) => new Cron(s.cron.trim(), { timezone: s.timeZone, paused: true, mode: '5-or-6-parts' });

/** The first time of the schedule strictly after `after`, or null when there is none. */
export function nextRunAfter(s: CronSpec, after: Date): Date | null {
  return pattern(s).nextRun(after);
}

/**
 * The latest time of the schedule at or before `now`, starting from `due` (a
 * time of the schedule that has come): after downtime only the latest missed
 * time runs, once. Bounded: a schedule missed more than `cap` times counts
 * from its last checked time.
 */
export function latestDue(s: CronSpec, due: Date, now: Date, cap = 100_000): Date {
  const p = pattern(s);
  let latest = due;
  for (let k = 0; k < cap; k++) {
    const next = p.nextRun(latest);
    if (!next || next.getTime() > now.getTime()) break;
    latest = next;
  }
  return latest;
}
