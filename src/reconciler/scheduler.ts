// The scheduler: runs power schedules and expiries when they come due. It runs
// on the replica elected to observe (the holder of the observer lease, see
// election.ts), once a second while it leads; what makes each due time run
// exactly once — even when two replicas briefly both believe they lead, or one
// restarts — is the schedule_runs row each run inserts in its transaction
// (src/service/schedules.ts).
import type { Db } from '../store/db.ts';
import { runDue } from '../service/schedules.ts';

export type SchedulerOptions = {
  db: Db;
  /** Whether this replica still leads; checked before each pass. */
  leading: () => boolean;
  wake: () => void;
  pollMs?: number;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
};

export function startScheduler(o: SchedulerOptions): { stop: () => Promise<void> } {
  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let wakeSleep: () => void = () => {};
  const loop = (async () => {
    while (running) {
      if (o.leading()) {
        try {
          for (const r of await runDue({ db: o.db, wake: o.wake })) {
            o.log.info({ cluster: r.clusterId, schedule: r.scheduleId, action: r.action, dueAt: r.dueAt.toISOString(), outcome: r.outcome }, r.scheduleId === null ? 'cluster expired' : 'power schedule ran');
          }
        } catch (err) {
          o.log.warn({ err: (err as Error).message }, 'running due schedules failed; trying again');
        }
      }
      if (!running) break;
      await new Promise<void>((resolve) => {
        wakeSleep = resolve;
        timer = setTimeout(resolve, o.pollMs ?? 1000);
      });
    }
  })();
  return {
    stop: async () => {
      running = false;
      clearTimeout(timer);
      wakeSleep();
      await loop;
    },
  };
}
