// A small cross-process lock: a directory created atomically, holding the pid of
// its owner. A lock whose owner is gone is taken over.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function owner(dir: string): number | undefined {
  try {
    const n = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export async function withLock<T>(dir: string, fn: () => Promise<T>, onWait?: (owner: number) => void): Promise<T> {
  let announced = false;
  let ownerless = 0;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = owner(dir);
      if (pid === process.pid) throw new Error(`lock ${dir} is already held by this process`);
      if (pid === undefined ? ++ownerless > 10 : !isAlive(pid)) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      if (pid !== undefined && !announced && onWait) {
        onWait(pid);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
