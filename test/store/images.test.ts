// The image catalogue's store (src/store/images.ts) on PostgreSQL and PGlite.
import { describe, expect, it } from 'vitest';
import { isUniqueViolation } from '../../src/store/errors.ts';
import * as images from '../../src/store/images.ts';
import { BACKENDS, useStore } from '../support/stores.ts';

const entry = (over: Partial<images.NewImage> = {}): images.NewImage => ({
  name: 'ubuntu',
  kind: 'vm',
  source: 'docker://quay.io/containerdisks/ubuntu:24.04',
  default_disk_gb: 20,
  min_cpu_milli: 1000,
  min_memory_mib: 2048,
  os: 'linux',
  ...over,
});

describe.each(BACKENDS)('image catalogue store on %s', (backend) => {
  const s = useStore(backend, 'images');

  it('inserts, finds by name and refuses a second entry of a name', async () => {
    const row = await images.insertImage(s.db, entry());
    expect(row).toMatchObject({ ...entry(), retired_at: null });
    expect((await images.findImageByName(s.db, 'ubuntu'))?.id).toBe(row.id);
    expect(await images.findImageByName(s.db, 'debian')).toBeNull();
    const err = await images.insertImage(s.db, entry({ kind: 'container', source: 'nginx' })).catch((e: unknown) => e);
    expect(isUniqueViolation(err, 'images_name_key')).toBe(true);
  });

  it('changes only the given fields, clears a field given as null, and retires once', async () => {
    await images.insertImage(s.db, entry());
    const changed = await images.updateImage(s.db, 'ubuntu', { min_cpu_milli: 500, os: null });
    expect(changed).toMatchObject({ min_cpu_milli: 500, os: null, default_disk_gb: 20, source: entry().source, retired_at: null });
    const retired = await images.updateImage(s.db, 'ubuntu', { retired: true });
    expect(retired!.retired_at).toBeInstanceOf(Date);
    const again = await images.updateImage(s.db, 'ubuntu', { retired: true, default_disk_gb: null });
    expect(again!.retired_at!.getTime()).toBe(retired!.retired_at!.getTime());
    expect(again!.default_disk_gb).toBeNull();
    expect((await images.updateImage(s.db, 'ubuntu', { retired: false }))!.retired_at).toBeNull();
    expect(await images.updateImage(s.db, 'nope', { os: 'linux' })).toBeNull();
  });

  it('lists by name, retired entries only when asked, and names the active ones of a kind', async () => {
    await images.insertImage(s.db, entry({ name: 'b-vm' }));
    await images.insertImage(s.db, entry({ name: 'a-app', kind: 'container', source: 'registry.example/app:1' }));
    await images.insertImage(s.db, entry({ name: 'c-old', kind: 'container', source: 'registry.example/old:1' }));
    await images.updateImage(s.db, 'c-old', { retired: true });
    expect((await images.listImages(s.db, { includeRetired: false })).map((r) => r.name)).toEqual(['a-app', 'b-vm']);
    expect((await images.listImages(s.db, { includeRetired: true })).map((r) => r.name)).toEqual(['a-app', 'b-vm', 'c-old']);
    expect(await images.activeImageNames(s.db, 'container')).toEqual(['a-app']);
  });
});
