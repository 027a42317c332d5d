// The image catalogue through the API: admins create, update and retire;
// everyone authenticated lists and reads; clusters name catalogue images and
// run the source resolved at create.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
let strict: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
  strict = await buildTestApp({ KUBEKLOUD_ALLOW_FREEFORM_IMAGES: 'false' });
});
afterAll(async () => {
  await t.close();
  await strict.close();
});

const ubuntu = { name: 'ubuntu-24.04', kind: 'vm', source: 'docker://quay.io/containerdisks/ubuntu:24.04', default_disk_gb: 20, min_cpu: 1, min_memory: 2, os: 'linux' };
const nginx = { name: 'nginx', kind: 'container', source: 'docker.io/nginxinc/nginx-unprivileged:1.27-alpine', min_cpu: 0.25, min_memory: 0.25 };
const cluster = (over: Record<string, unknown> = {}) => ({ name: 'web', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1, ...over });
const counts = async (app: TestApp) => ({
  clusters: (await app.db.query('SELECT id FROM clusters')).length,
  images: await app.db.query('SELECT name, source, retired_at FROM images ORDER BY name'),
  used: await app.db.query('SELECT used_cpu_milli, used_instances FROM users ORDER BY id'),
});

describe('the catalogue', () => {
  it('admins create entries that every authenticated caller lists and reads', async () => {
    const created = await t.call('POST', '/api/v1/images/', undefined, ubuntu);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ...ubuntu, retired: false, retired_at: null });
    expect((await t.call('POST', '/api/v1/images/', undefined, nginx)).status).toBe(201);
    const u = await t.tenant();
    const list = await t.call('GET', '/api/v1/images/', u.token);
    expect(list.status).toBe(200);
    expect(list.body.map((i: { name: string }) => i.name)).toEqual(['nginx', 'ubuntu-24.04']);
    expect((await t.call('GET', '/api/v1/images/ubuntu-24.04', u.token)).body).toMatchObject({ kind: 'vm', min_cpu: 1, os: 'linux' });
    expect((await t.call('GET', '/api/v1/images/', null)).status).toBe(401);
    expect((await t.call('GET', '/api/v1/images/nope', u.token)).status).toBe(404);
  });

  it('refuses users (403), duplicates (400) and bad sources (422), changing nothing', async () => {
    const u = await t.tenant();
    const before = await counts(t);
    expect((await t.call('POST', '/api/v1/images/', u.token, { ...nginx, name: 'mine' })).status).toBe(403);
    expect((await t.call('PATCH', '/api/v1/images/nginx', u.token, { min_cpu: 0 })).status).toBe(403);
    expect((await t.call('POST', '/api/v1/images/nginx/retire', u.token)).status).toBe(403);
    const dup = await t.call('POST', '/api/v1/images/', undefined, nginx);
    expect(dup.status).toBe(400);
    expect(dup.body.detail).toBe("Image 'nginx' already exists");
    const bad: [Record<string, unknown>, string, RegExp][] = [
      [{ ...nginx, name: 'c1', source: 'https://example.com/app.tar' }, 'source', /container image reference/],
      [{ ...nginx, name: 'c2', source: 'docker://nginx:1' }, 'source', /container image reference/],
      [{ ...ubuntu, name: 'v1', source: 'quay.io/containerdisks/ubuntu:24.04' }, 'source', /docker:\/\/.*http\(s\)/],
      [{ ...ubuntu, name: 'v2', source: 'ftp://example.com/disk.img' }, 'source', /scheme ftp is not allowed/],
      [{ ...ubuntu, name: 'v3', source: 'https://user:pw@example.com/disk.qcow2' }, 'source', /credentials/],
      [{ ...ubuntu, name: 'v4', source: 'https://example.com/' }, 'source', /disk image file/],
      [{ ...ubuntu, name: 'v5', source: 'docker://Not Valid' }, 'source', /docker:\/\/ must be followed/],
      [{ ...ubuntu, name: 'Bad_Name' }, 'name', /pattern/],
      [{ ...ubuntu, name: 'v6', kind: 'lambda' }, 'kind', /./],
      [{ ...ubuntu, name: 'v7', min_cpu: 0.0001 }, 'min_cpu', /0\.001/],
      [{ ...ubuntu, name: 'v8', default_disk_gb: 0 }, 'default_disk_gb', /./],
    ];
    for (const [body, field, msg] of bad) {
      const res = await t.call('POST', '/api/v1/images/', undefined, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      const problem = res.body.detail.find((d: { loc: string[] }) => d.loc.includes(field));
      expect(problem?.msg, JSON.stringify(res.body)).toMatch(msg);
    }
    const badPatch = await t.call('PATCH', '/api/v1/images/ubuntu-24.04', undefined, { source: 'quay.io/x:1' });
    expect(badPatch.status).toBe(422);
    expect((await t.call('PATCH', '/api/v1/images/ubuntu-24.04', undefined, {})).status).toBe(422);
    expect(await counts(t)).toEqual(before);
  });

  it('updates and retires; a retired image is listed only when asked, and can be offered again', async () => {
    await t.call('POST', '/api/v1/images/', undefined, { ...nginx, name: 'old-nginx' });
    const patched = await t.call('PATCH', '/api/v1/images/old-nginx', undefined, { os: null, min_memory: 0.5, default_disk_gb: 3 });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ os: null, min_memory: 0.5, default_disk_gb: 3, source: nginx.source });
    const retired = await t.call('POST', '/api/v1/images/old-nginx/retire', undefined);
    expect(retired.status).toBe(200);
    expect(retired.body.retired).toBe(true);
    expect(retired.body.retired_at).toBeTruthy();
    const names = async (q = '') => (await t.call('GET', `/api/v1/images/${q}`)).body.map((i: { name: string }) => i.name);
    expect(await names()).not.toContain('old-nginx');
    expect(await names('?include_retired=true')).toContain('old-nginx');
    // Retiring twice keeps the first time.
    expect((await t.call('POST', '/api/v1/images/old-nginx/retire', undefined)).body.retired_at).toBe(retired.body.retired_at);
    expect((await t.call('PATCH', '/api/v1/images/old-nginx', undefined, { retired: false })).body).toMatchObject({ retired: false, retired_at: null });
    expect((await t.call('POST', '/api/v1/images/nope/retire', undefined)).status).toBe(404);
  });
});

describe('clusters naming catalogue images', () => {
  it('run the source resolved at create, which a later catalogue edit does not change', async () => {
    await t.call('POST', '/api/v1/images/', undefined, { ...nginx, name: 'app', source: 'registry.example/team/app:1.0' });
    const u = await t.tenant();
    const c = await t.call('POST', '/api/v1/clusters/', u.token, cluster({ image: 'app' }));
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ image: 'app', image_source: 'registry.example/team/app:1.0' });
    await t.call('PATCH', '/api/v1/images/app', undefined, { source: 'registry.example/team/app:2.0' });
    expect((await t.call('GET', `/api/v1/clusters/${c.body.id}`, u.token)).body.image_source).toBe('registry.example/team/app:1.0');
    const next = await t.call('POST', '/api/v1/clusters/', u.token, cluster({ name: 'web2', image: 'app' }));
    expect(next.body.image_source).toBe('registry.example/team/app:2.0');
    // A free-form image, and none at all, are what they were.
    expect((await t.call('POST', '/api/v1/clusters/', u.token, cluster({ name: 'free', image: 'registry.example/other:3' }))).body).toMatchObject({
      image: 'registry.example/other:3',
      image_source: 'registry.example/other:3',
    });
    expect((await t.call('POST', '/api/v1/clusters/', u.token, cluster({ name: 'dflt' }))).body.image).toBe(t.config.defaultContainerImage);
  });

  it('refuses a retired image, the wrong kind and sizes below the minimums with 422 saying which, changing nothing; clusters using a retired image keep it', async () => {
    await t.call('POST', '/api/v1/images/', undefined, { ...ubuntu, name: 'vm-img' });
    await t.call('POST', '/api/v1/images/', undefined, { ...nginx, name: 'soon-gone', min_cpu: 0.5, min_memory: 1 });
    const u = await t.tenant();
    const kept = await t.call('POST', '/api/v1/clusters/', u.token, cluster({ name: 'kept', image: 'soon-gone', memory_per_instance: 1 }));
    expect(kept.status).toBe(201);
    await t.call('POST', '/api/v1/images/soon-gone/retire', undefined);
    const before = await counts(t);
    const cases: [Record<string, unknown>, string, string][] = [
      [{ image: 'soon-gone', memory_per_instance: 1 }, 'image', "image 'soon-gone' is retired; new clusters cannot use it (GET /api/v1/images lists the current ones)"],
      [{ image: 'vm-img' }, 'image', "image 'vm-img' is a vm image; this is a container cluster"],
      [{ image: 'vm-img', instance_type: 'vm', cpu_per_instance: 0.5 }, 'cpu_per_instance', "must be at least 1 cores, the minimum of image 'vm-img'"],
      [{ image: 'vm-img', instance_type: 'vm', cpu_per_instance: 1, memory_per_instance: 1.5 }, 'memory_per_instance', "must be at least 2 GB, the minimum of image 'vm-img'"],
    ];
    for (const [over, field, msg] of cases) {
      const res = await t.call('POST', '/api/v1/clusters/', u.token, cluster({ name: 'x', ...over }));
      expect(res.status, JSON.stringify(over)).toBe(422);
      expect(res.body.detail).toContainEqual({ loc: ['body', field], msg, type: 'value_error' });
    }
    expect(await counts(t)).toEqual(before);
    const still = await t.call('GET', `/api/v1/clusters/${kept.body.id}`, u.token);
    expect(still.body).toMatchObject({ image: 'soon-gone', image_source: nginx.source });
    // A VM image from an HTTP URL boots only from a persistent root disk: without a size for it, 422 saying so.
    await t.call('POST', '/api/v1/images/', undefined, { ...ubuntu, name: 'cloud-img', source: 'https://cloud-images.example/noble.img', default_disk_gb: undefined });
    const beforeHttp = await counts(t);
    const http = await t.call('POST', '/api/v1/clusters/', u.token, cluster({ name: 'y', instance_type: 'vm', cpu_per_instance: 1, memory_per_instance: 2, image: 'cloud-img' }));
    expect(http.status).toBe(422);
    expect(http.body.detail).toEqual([
      { loc: ['body', 'disk_size'], msg: "image 'cloud-img' is a disk image from a URL: give disk_size (GB) for the root disk it is imported into", type: 'value_error' },
    ]);
    expect(await counts(t)).toEqual(beforeHttp);
    // VM from the catalogue: a registry source.
    const vm = await t.call('POST', '/api/v1/clusters/', u.token, cluster({ name: 'vm', instance_type: 'vm', cpu_per_instance: 1, memory_per_instance: 2, image: 'vm-img' }));
    expect(vm.status).toBe(201);
    expect(vm.body.image_source).toBe(ubuntu.source);
  });

  it("give VMs a persistent root disk of disk_size GB, or of the image's default size, counted in the storage quota", async () => {
    await t.call('POST', '/api/v1/images/', undefined, { ...ubuntu, name: 'noble', source: 'https://cloud-images.example/noble.img', default_disk_gb: 30 });
    await t.call('POST', '/api/v1/images/', undefined, { ...ubuntu, name: 'plain', default_disk_gb: undefined });
    const u = await t.tenant();
    await t.call('PATCH', `/api/v1/users/${u.id}`, undefined, { quota_storage_gb: 100 });
    const vm = (over: Record<string, unknown>) => cluster({ instance_type: 'vm', cpu_per_instance: 1, memory_per_instance: 2, ...over });
    const sized = await t.call('POST', '/api/v1/clusters/', u.token, vm({ name: 'sized', image: 'noble', disk_size: 20, instance_count: 2 }));
    expect(sized.status).toBe(201);
    expect(sized.body.disk_size).toBe(20);
    const dflt = await t.call('POST', '/api/v1/clusters/', u.token, vm({ name: 'dflt', image: 'noble' }));
    expect(dflt.body.disk_size).toBe(30);
    // A registry image with no default size boots as a containerDisk, as before.
    expect((await t.call('POST', '/api/v1/clusters/', u.token, vm({ name: 'eph', image: 'plain' }))).body.disk_size).toBeNull();
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body).toMatchObject({ used_storage_gb: 70, available_storage_gb: 30 });
    // Over the storage quota: 403 naming storage, nothing reserved; a container cannot have a root disk (422).
    const before = await counts(t);
    const over = await t.call('POST', '/api/v1/clusters/', u.token, vm({ name: 'big', image: 'noble', disk_size: 31 }));
    expect(over.status).toBe(403);
    expect(over.body.detail).toMatch(/storage/);
    const ctr = await t.call('POST', '/api/v1/clusters/', u.token, cluster({ name: 'ctr', disk_size: 5 }));
    expect(ctr.status).toBe(422);
    expect(ctr.body.detail).toContainEqual({ loc: ['body', 'disk_size'], msg: 'applies to vm clusters only (a container keeps its data on volume_size)', type: 'value_error' });
    // A root disk is not resized, nor re-imaged, live.
    const patch = await t.call('PATCH', `/api/v1/clusters/${sized.body.id}`, u.token, { disk_size: 40, image: 'plain' });
    expect(patch.status).toBe(422);
    expect(await counts(t)).toEqual(before);
    const reimage = await t.call('PATCH', `/api/v1/clusters/${sized.body.id}`, u.token, { image: 'plain' });
    expect(reimage.status).toBe(422);
    expect(reimage.body.detail[0].msg).toMatch(/keeps the image its disk was imported from/);
    // Deleting gives the storage back.
    await t.call('DELETE', `/api/v1/clusters/${sized.body.id}`, u.token);
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body.used_storage_gb).toBe(30);
  });

  it('with free-form images off, refuses an unknown image with 422 naming the catalogue', async () => {
    await strict.call('POST', '/api/v1/images/', undefined, nginx);
    await strict.call('POST', '/api/v1/images/', undefined, { ...nginx, name: 'busybox', source: 'docker.io/library/busybox:1' });
    await strict.call('POST', '/api/v1/images/', undefined, ubuntu);
    const u = await strict.tenant();
    const before = await counts(strict);
    const res = await strict.call('POST', '/api/v1/clusters/', u.token, cluster({ image: 'registry.example/other:3' }));
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual([
      {
        loc: ['body', 'image'],
        msg: "image 'registry.example/other:3' is not in the image catalogue, and free-form images are not allowed on this installation; name a container image of the catalogue: 'busybox', 'nginx'",
        type: 'value_error',
      },
    ]);
    expect(await counts(strict)).toEqual(before);
    expect((await strict.call('POST', '/api/v1/clusters/', u.token, cluster({ image: 'nginx' }))).status).toBe(201);
    // No image: the installation's default, which the operator chose.
    expect((await strict.call('POST', '/api/v1/clusters/', u.token, cluster({ name: 'dflt' }))).status).toBe(201);
  });
});
