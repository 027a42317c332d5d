// Vitest global setup: gives the run an id every process a test starts carries
// (test/support/children.ts), and at the end fails the run if any of them is
// still alive — a server or a PostgreSQL left behind by a test, passed or
// failed. Those found are killed, so one bad run does not leak into the next.
import { readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { CHILD_MARKER } from '../support/children.ts';

function leftovers(id: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (!env.includes(`${CHILD_MARKER}=${id}`)) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const state = /State:\s+(\S)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (state !== 'Z') out.push({ pid, cmd });
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return out;
}

export default function setup(): () => Promise<void> {
  const id = randomUUID();
  process.env.KUBEKLOUD_TEST_RUN_ID = id;
  return async () => {
    // A process told to stop may take a moment to go.
    let left = leftovers(id);
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = leftovers(id);
    }
    if (left.length === 0) {
      process.stderr.write('every process the tests started has stopped\n');
      return;
    }
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    throw new Error(`${left.length} process(es) the tests started were still running at the end (now killed):\n${left.map((p) => `  ${p.pid} ${p.cmd}`).join('\n')}`);
  };
}
