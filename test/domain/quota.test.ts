import { describe, expect, it } from 'vitest';
import { available, demandOf, fits, quotaExceededMessage, totalBelowUsage } from '../../src/domain/quota.ts';
import { coresToMilli, cpuQuantity, gibToMib, isWholeMultiple, memoryQuantity } from '../../src/domain/units.ts';

const total = { cpuMilli: 4000, memoryMib: 8192, instances: 5 };

describe('quota arithmetic', () => {
  it('counts a whole cluster at once', () => {
    expect(demandOf(500, 1024, 3)).toEqual({ cpuMilli: 1500, memoryMib: 3072, instances: 3 });
  });
  it('fits exactly up to the total and not one unit beyond', () => {
    const used = { cpuMilli: 3000, memoryMib: 4096, instances: 4 };
    expect(fits(total, used, { cpuMilli: 1000, memoryMib: 4096, instances: 1 })).toBe(true);
    expect(fits(total, used, { cpuMilli: 1001, memoryMib: 0, instances: 0 })).toBe(false);
    expect(fits(total, used, { cpuMilli: 0, memoryMib: 4097, instances: 0 })).toBe(false);
    expect(fits(total, used, { cpuMilli: 0, memoryMib: 0, instances: 2 })).toBe(false);
  });
  it('never shows negative availability', () => {
    expect(available(total, { cpuMilli: 5000, memoryMib: 0, instances: 0 })).toEqual({ cpuMilli: 0, memoryMib: 8192, instances: 5 });
  });
  it('names requested and available amounts when exceeded', () => {
    const msg = quotaExceededMessage(demandOf(2000, 4096, 3), { cpuMilli: 1500, memoryMib: 2048, instances: 2 });
    expect(msg).toBe('Quota exceeded: requested cpu 6 cores, memory 12 GB, 3 instances; available cpu 1.5 cores, memory 2 GB, 2 instances');
  });
  it('lists each total that would fall below usage', () => {
    expect(totalBelowUsage(total, { cpuMilli: 1000, memoryMib: 1024, instances: 1 })).toEqual([]);
    expect(totalBelowUsage({ cpuMilli: 500, memoryMib: 512, instances: 0 }, { cpuMilli: 1000, memoryMib: 1024, instances: 1 })).toHaveLength(3);
  });
});

describe('units', () => {
  it('converts cores and GB to exact integers', () => {
    expect(coresToMilli(0.1 + 0.2)).toBe(300);
    expect(gibToMib(1.5)).toBe(1536);
  });
  it('detects fractions finer than the unit', () => {
    expect(isWholeMultiple(0.001, 1000)).toBe(true);
    expect(isWholeMultiple(0.0005, 1000)).toBe(false);
  });
  it('writes Kubernetes quantities', () => {
    expect(cpuQuantity(2000)).toBe('2');
    expect(cpuQuantity(250)).toBe('250m');
    expect(memoryQuantity(2048)).toBe('2Gi');
    expect(memoryQuantity(1536)).toBe('1536Mi');
  });
});
