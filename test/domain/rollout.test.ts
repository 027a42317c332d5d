// What a live change's roll does next (src/domain/rollout.ts), and the
// namespace quota while it rolls (src/domain/render.ts), as pure functions.
import { describe, expect, it } from 'vitest';
import { renderClusterObjects } from '../../src/domain/render.ts';
import { decideRollout, sameSpec, type RollableSpec, type RollingInstance } from '../../src/domain/rollout.ts';
import { clusterSpecOf } from '../../src/service/spec.ts';
import { clusterRow, INSTALLATION } from '../support/rows.ts';

const now = new Date('2026-01-01T00:10:00Z');
const inst = (ordinal: number, over: Partial<RollingInstance> = {}): RollingInstance => ({
  id: ordinal,
  ordinal,
  name: `web-${ordinal}`,
  specGen: 1,
  desired: 'running',
  synced: true,
  running: true,
  failure: null,
  rolledAt: null,
  ...over,
});

describe('decideRollout', () => {
  it('rolls the lowest-numbered instance on an older spec when none is changing', () => {
    expect(decideRollout(2, [inst(3), inst(1), inst(2)], now, 60_000)).toEqual({ type: 'roll', instanceId: 1, updated: 0, total: 3 });
  });
  it('waits while an instance on the new spec is not running again, whatever the others', () => {
    const changing = inst(1, { specGen: 2, synced: true, running: false, rolledAt: new Date(now.getTime() - 30_000) });
    expect(decideRollout(2, [changing, inst(2), inst(3)], now, 60_000)).toEqual({ type: 'wait', updated: 0, total: 3 });
    expect(decideRollout(2, [{ ...changing, running: true, synced: false }, inst(2)], now, 60_000).type).toBe('wait');
  });
  it('fails past the time allowed, or on a failure, naming the instance', () => {
    const late = inst(2, { specGen: 2, running: false, rolledAt: new Date(now.getTime() - 61_000) });
    expect(decideRollout(2, [inst(1, { specGen: 2 }), late, inst(3)], now, 60_000)).toEqual({
      type: 'failed',
      message: 'web-2 was not running again within 60 s',
      updated: 1,
      total: 3,
    });
    expect(decideRollout(2, [inst(1, { specGen: 2, running: false, failure: 'ImagePullBackOff' })], now, 60_000)).toMatchObject({ type: 'failed', message: 'web-1: ImagePullBackOff' });
  });
  it('does not wait for an instance asked to be stopped once its request is applied', () => {
    expect(decideRollout(2, [inst(1, { specGen: 2, desired: 'stopped', running: false })], now, 60_000)).toEqual({ type: 'done', updated: 1, total: 1 });
  });
  it('is done when every instance is on the new spec and running', () => {
    expect(decideRollout(3, [inst(1, { specGen: 3 }), inst(2, { specGen: 3 })], now, 60_000)).toEqual({ type: 'done', updated: 2, total: 2 });
  });
});

describe('a spec', () => {
  const spec: RollableSpec = { cpu_milli: 500, memory_mib: 512, image: 'a', image_source: 'a', env: { A: '1', B: '2' }, ports: [], service_type: 'ClusterIP', ssh_keys: [], user_data: null };
  it('is the same whatever the order of its keys', () => {
    expect(sameSpec(spec, { ...spec, env: { B: '2', A: '1' } })).toBe(true);
    expect(sameSpec(spec, { ...spec, image_source: 'b' })).toBe(false);
  });
});

describe('the namespace quota while rolling', () => {
  const quotaOf = (row: ReturnType<typeof clusterRow>) =>
    (renderClusterObjects(clusterSpecOf(row, INSTALLATION)).find((o) => o.kind === 'ResourceQuota') as unknown as { spec: { hard: Record<string, string> } }).spec.hard;
  it('admits the larger of the old and new sizes for every instance, and goes back once done', () => {
    // 2 instances + 1 replacement of 0.5 cores, rolling down from 1 core: room for 3 of 1 core.
    expect(quotaOf(clusterRow({ cpu_milli: 500, memory_mib: 1024, peak_cpu_milli: 1000, peak_memory_mib: 1024 }))['requests.cpu']).toBe(quotaOf(clusterRow({ cpu_milli: 1000 }))['requests.cpu']);
    expect(quotaOf(clusterRow({ cpu_milli: 500 }))['requests.cpu']).not.toBe(quotaOf(clusterRow({ cpu_milli: 1000 }))['requests.cpu']);
  });
  it('an instance not yet rolled renders the spec it keeps', () => {
    const row = clusterRow({ image: 'new', image_source: 'new' });
    const kept: RollableSpec = { cpu_milli: 250, memory_mib: 256, image: 'old', image_source: 'old', env: {}, ports: [], service_type: 'ClusterIP', ssh_keys: [], user_data: null };
    expect(clusterSpecOf(row, INSTALLATION, { spec: kept })).toMatchObject({ image: 'old', cpuMilli: 250, env: {}, ports: [] });
    expect(clusterSpecOf(row, INSTALLATION, { spec: null })).toMatchObject({ image: 'new', cpuMilli: 500 });
  });
});
