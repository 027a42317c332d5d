// Deletes through the client on the real API server carry their
// DeleteOptions: a uid precondition refuses to delete an object recreated
// under the same name since, and an Orphan propagation leaves the
// dependents (the garbage collector takes their owner reference off instead).
// Node sends a DELETE's body only with its length; without it both were
// silently dropped.
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKube } from '../../src/kube/client.ts';
import { KubeError } from '../../src/kube/errors.ts';
import { createTestNamespace, deleteNamespace, eventually, loadTestKubeConfig } from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const kube = createKube(kc);
let ns: string;

beforeAll(async () => {
  ns = await createTestNamespace(kc, 'delete');
});
afterAll(async () => {
  await deleteNamespace(kc, ns);
});

const cm = (name: string, owner?: V1ConfigMap): V1ConfigMap => ({
  metadata: { name, ...(owner ? { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: owner.metadata!.name!, uid: owner.metadata!.uid! }] } : {}) },
  data: { k: 'v' },
});
const ref = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns } });
const read = (name: string) => core.readNamespacedConfigMap({ namespace: ns, name }).catch((e: { code?: number }) => (e.code === 404 ? null : Promise.reject(e)));

describe('a delete through the client', () => {
  it('with a uid precondition leaves an object recreated under the same name (409)', async () => {
    const first = await core.createNamespacedConfigMap({ namespace: ns, body: cm('again') });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'again' });
    const second = await core.createNamespacedConfigMap({ namespace: ns, body: cm('again') });
    const err = await kube.remove(ref('again'), { uid: first.metadata!.uid! }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).code).toBe(409);
    expect((await read('again'))?.metadata?.uid).toBe(second.metadata!.uid);
    expect(await kube.remove(ref('again'), { uid: second.metadata!.uid! })).toBe(true);
    expect(await read('again')).toBeNull();
  });

  it('with Orphan propagation keeps the dependents, their owner reference taken off; by default they go with their owner', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: ns, body: cm('owner') });
    await core.createNamespacedConfigMap({ namespace: ns, body: cm('kept', owner) });
    await kube.remove(ref('owner'), { propagation: 'Orphan' });
    await eventually(async () => (await read('owner')) === null, 30_000, 'the owner gone');
    const kept = await eventually(async () => {
      const c = await read('kept');
      return c && (c.metadata?.ownerReferences ?? []).length === 0 ? c : undefined;
    }, 30_000, 'the dependent orphaned');
    expect(kept.metadata?.name).toBe('kept');

    const owner2 = await core.createNamespacedConfigMap({ namespace: ns, body: cm('owner2') });
    await core.createNamespacedConfigMap({ namespace: ns, body: cm('goes', owner2) });
    await kube.remove(ref('owner2'));
    await eventually(async () => (await read('goes')) === null, 30_000, 'the dependent collected with its owner');
  });
});
