import { describe, expect, it } from 'vitest';
import { observeDataVolume, rootDiskInstanceId } from '../../src/domain/observations.ts';
import { LABEL_INSTANCE } from '../../src/domain/render.ts';

describe('a root disk DataVolume', () => {
  const dv = (status: unknown, name = 'web-1-root') => ({ metadata: { name, labels: { [LABEL_INSTANCE]: '11' } }, status });
  it('gives its phase and progress as CDI writes them', () => {
    expect(observeDataVolume(dv({ phase: 'ImportInProgress', progress: '40.25%' }))).toEqual({ phase: 'ImportInProgress', progress: 40.25, message: null });
    expect(observeDataVolume(dv({ phase: 'Succeeded', progress: '100.0%' }))).toEqual({ phase: 'Succeeded', progress: 100, message: null });
    expect(observeDataVolume(dv({ phase: 'Succeeded' }))).toEqual({ phase: 'Succeeded', progress: 100, message: null });
    expect(observeDataVolume(dv({ phase: 'Pending', progress: 'N/A' }))).toEqual({ phase: 'Pending', progress: null, message: null });
    expect(observeDataVolume(dv(undefined))).toEqual({ phase: null, progress: null, message: null });
  });
  it('says why an import failed, capped, and trusts nothing else it carries', () => {
    const failed = observeDataVolume(
      dv({
        phase: 'Failed',
        progress: '20.00%',
        conditions: [
          { type: 'Bound', status: 'True' },
          { type: 'Running', status: 'False', reason: 'Error', message: 'Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found' },
        ],
      }),
    );
    expect(failed.message).toBe('root disk import failed (Error): Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found');
    expect(observeDataVolume(dv({ phase: 'Failed', conditions: [{ type: 'Running', status: 'False', message: 'x'.repeat(5000) }] })).message!.length).toBeLessThanOrEqual(500);
    expect(observeDataVolume(dv({ phase: '<script>', progress: '999%' }))).toEqual({ phase: null, progress: 100, message: null });
  });
  it('belongs to the instance its labels name, only when it is a root disk', () => {
    expect(rootDiskInstanceId(dv({}))).toBe(11);
    expect(rootDiskInstanceId(dv({}, 'web-1-data'))).toBeNull();
    // KubeVirt's name for a root disk restored from a snapshot (after the VM's volume, rootdisk).
    expect(rootDiskInstanceId(dv({}, 'restore-0b1c9a4e-2f3d-4c5b-8a6e-1d2c3b4a5f6e-rootdisk'))).toBe(11);
    expect(rootDiskInstanceId(dv({}, 'restore-0b1c9a4e-2f3d-4c5b-8a6e-1d2c3b4a5f6e-data'))).toBeNull();
  });
});
