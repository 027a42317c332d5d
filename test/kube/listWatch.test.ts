// startListWatch on the real API server: a watch of a quiet kind that the
// client ends for silence is resumed at once from where it was, reported as
// no problem, and the next change still arrives.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKube } from '../../src/kube/client.ts';
import { startListWatch, type ListWatchHandle } from '../../src/kube/listWatch.ts';
import { createTestNamespace, deleteNamespace, eventually, loadTestKubeConfig } from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
let ns: string;
let handle: ListWatchHandle | null = null;

beforeAll(async () => {
  ns = await createTestNamespace(kc, 'listwatch');
});
afterAll(async () => {
  await handle?.stop();
  await deleteNamespace(kc, ns);
});

describe('a list-watch of a quiet kind', () => {
  it('resumes at once, without an error, each time the client ends it for silence; a change afterwards arrives', async () => {
    const label = `kubekloud.io/test-listwatch=${ns}`;
    const kube = createKube(kc, () => {}, { watchIdleTimeoutMs: 500 });
    const errors: string[] = [];
    const relists: string[] = [];
    const events: string[] = [];
    handle = startListWatch(kube, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      path: '/api/v1/configmaps',
      labelSelector: label,
      onListPage: async () => {},
      onListDone: async () => {},
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
