// startListWatch on the real API server: a watch of a quiet kind that the
// client ends for silence is resumed at once from where it was, reported as
// no problem, and the next change still arrives; events of different objects
// are handled side by side, those of one object in order; a list asked for
// while one runs follows it, and whoever asked learns when it has ended; a
// handler that throws is reported with its own error, and the kind listed again.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKube, type Kube } from '../../src/kube/client.ts';
import { startListWatch, type ListWatchHandle, type ListWatchOptions } from '../../src/kube/listWatch.ts';
import { createTestNamespace, deleteNamespace, eventually, loadTestKubeConfig } from '../support/kube.ts';
import { gate } from '../support/stores.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
let ns: string;
let handle: ListWatchHandle | null = null;
let second: ListWatchHandle | null = null;
let third: ListWatchHandle | null = null;
let fourth: ListWatchHandle | null = null;

beforeAll(async () => {
  ns = await createTestNamespace(kc, 'listwatch');
});
afterAll(async () => {
  await handle?.stop();
  await second?.stop();
  await third?.stop();
  await fourth?.stop();
  await deleteNamespace(kc, ns);
});

/** A list-watch of the ConfigMaps labelled `label`, cluster-wide; lists are ignored. */
const watchConfigMaps = (kube: Kube, label: string, o: Pick<ListWatchOptions, 'onEvent' | 'onError' | 'onRelist'>) =>
  startListWatch(kube, { apiVersion: 'v1', kind: 'ConfigMap', path: '/api/v1/configmaps', labelSelector: label, onListPage: async () => {}, onListDone: async () => {}, ...o });

describe('a list-watch of a quiet kind', () => {
  it('resumes at once, without an error, each time the client ends it for silence; a change afterwards arrives', async () => {
    const label = `kubekloud.io/test-listwatch=${ns}`;
    const kube = createKube(kc, () => {}, { watchIdleTimeoutMs: 500 });
    const errors: string[] = [];
    const relists: string[] = [];
    const events: string[] = [];
    handle = watchConfigMaps(kube, label, {
      onEvent: async (type, obj) => void events.push(`${type} ${obj.metadata?.name}`),
      onError: (err, context) => void errors.push(`${context}: ${err.message}`),
      onRelist: (reason) => void relists.push(reason),
    });
    await eventually(async () => handle!.synced, 30_000, 'the first list');
    // Silence for several idle timeouts: each ends the watch on the client's side.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(errors).toEqual([]);
    // Resumed from its resourceVersion, not listed again.
    expect(relists).toEqual(['start']);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'after-quiet', labels: { 'kubekloud.io/test-listwatch': ns } }, data: { a: 'b' } } });
    await eventually(async () => events.includes('ADDED after-quiet'), 10_000, 'the ConfigMap made after the quiet spell');
    expect(errors).toEqual([]);
  }, 60_000);
});

describe('events of a list-watch', () => {
  it('of one object are handled in order, one at a time, while another object\'s are handled meanwhile', async () => {
    const label = `kubekloud.io/test-order=${ns}`;
    const labels = { 'kubekloud.io/test-order': ns };
    const kube = createKube(kc, () => {});
    const bHandled = gate();
    const log: string[] = [];
    let inA = 0;
    let overlapped = false;
    second = watchConfigMaps(kube, label, {
      onEvent: async (type, obj) => {
        const name = obj.metadata?.name ?? '';
        const v = (obj as { data?: { v?: string } }).data?.v;
        if (name === 'b') {
          log.push(`b ${v}`);
          bHandled.open();
          return;
        }
        if (inA++ > 0) overlapped = true;
        // a's first event waits for b's: with one event at a time this never ends.
        if (v === '1') await bHandled.promise;
        await new Promise((r) => setTimeout(r, 50));
        log.push(`a ${v}`);
        inA--;
      },
      onError: () => {},
    });
    await eventually(async () => second!.synced, 30_000, 'the first list');
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'a', labels }, data: { v: '1' } } });
    for (const v of ['2', '3', '4']) await core.replaceNamespacedConfigMap({ name: 'a', namespace: ns, body: { metadata: { name: 'a', labels }, data: { v } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'b', labels }, data: { v: '1' } } });
    await eventually(async () => log.length === 5, 10_000, "every event of a and b");
    expect(log).toEqual(['b 1', 'a 1', 'a 2', 'a 3', 'a 4']);
    expect(overlapped).toBe(false);
  }, 60_000);
});

describe('a list asked for', () => {
  it('while a list runs is not lost: it follows that list, and its promise resolves once it has ended', async () => {
    const kube = createKube(kc, () => {});
    const firstPage = gate();
    const log: string[] = [];
    third = startListWatch(kube, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      path: '/api/v1/configmaps',
      labelSelector: `kubekloud.io/test-asked=${ns}`,
      onRelist: (reason) => void log.push(`list (${reason})`),
      onListPage: async () => {
        if (log.length === 1) await firstPage.promise; // the first list holds here
      },
      onListDone: async () => void log.push('done'),
      onEvent: async () => {},
      onError: (err, context) => void log.push(`${context}: ${err.message}`),
    });
    await eventually(async () => log.length === 1, 10_000, 'the first list under way');
    void third.relist('resync').then(() => log.push('told'));
    firstPage.open();
    await eventually(async () => log.includes('told'), 10_000, `the list asked for to end (so far: ${log.join(', ')})`);
    expect(log).toEqual(['list (start)', 'done', 'list (resync)', 'done', 'told']);
    expect(third.synced).toBe(true);
  }, 30_000);
});

describe('a handler that throws', () => {
  it('is reported with its own error (not as the API server unreachable), and the kind is listed again', async () => {
    const label = `kubekloud.io/test-failing=${ns}`;
    const kube = createKube(kc, () => {});
    const errors: string[] = [];
    const relists: string[] = [];
    let thrown = false;
    fourth = watchConfigMaps(kube, label, {
      onEvent: async () => {
        if (thrown) return;
        thrown = true;
        throw new Error('deadlock detected'); // as a database statement's error reads
      },
      onError: (err, context) => void errors.push(`${context}: ${err.message}`),
      onRelist: (reason) => void relists.push(reason),
    });
    await eventually(async () => fourth!.synced, 30_000, 'the first list');
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'fails-once', labels: { 'kubekloud.io/test-failing': ns } } } });
    await eventually(async () => relists.includes('failed') && fourth!.synced, 10_000, `listed again after the failure (so far: ${relists.join(', ')})`);
    expect(errors).toEqual(['ADDED ConfigMap: deadlock detected']);
  }, 60_000);
});
