// Drift of every kind, made behind the API's back as another client would
// (JSON patches and deletes as the plane's admin), comes back to its rendered
// form — found from watch events, not from a periodic resync (pushed to an
// hour here) — and a periodic resync that finds nothing writes nothing.
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteObject, jsonPatch } from '../../src/kube/rest.ts';
import { eventually, loadTestKubeConfig } from '../support/kube.ts';
import { renderedFormProblems, type ClusterView } from '../support/rendered.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';
import type { ApiClient } from '../support/api.ts';

const kc = loadTestKubeConfig();
let server: ServerProcess;
let client: ApiClient;
let web: ClusterView;
let vm: ClusterView;

type Instance = ClusterView['instances'][number] & { status: string; phase: string; message: string | null };
const view = async (id: number) => (await client.get(`/api/v1/clusters/${id}`)).body as Omit<ClusterView, 'instances'> & { status: string; instances: Instance[] };
const patch = (apiVersion: string, kind: string, namespace: string | undefined, name: string, ops: unknown[]) =>
  jsonPatch(kc, { apiVersion, kind, metadata: { name, namespace } }, ops);
const remove = (apiVersion: string, kind: string, namespace: string, name: string) => deleteObject(kc, { apiVersion, kind, metadata: { name, namespace } }, 'Background');

/** Waits until the namespace is in its rendered form again; returns how long it took. */
async function repaired(c: ClusterView, what: string, withinMs = 30_000): Promise<number> {
  const began = Date.now();
  let last: string[] = [];
  await eventually(async () => {
    last = await renderedFormProblems(kc, await view(c.id), server.installation);
    return last.length === 0;
  }, withinMs, `${what} repaired`).catch((e) => {
    throw new Error(`${String(e)}\nstill wrong: ${last.join('\n')}\n${server.output().slice(-2000)}`);
  });
  return Date.now() - began;
}

const metric = async (name: string) => {
  const text = (await server.metrics.get()).body as string;
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
};

beforeAll(async () => {
  // No periodic resync within the test: what finds the drift below is the watch.
  server = await startServer({ env: { KUBEKLOUD_RESYNC_SECONDS: '3600', KUBEKLOUD_ALLOW_NODEPORT: 'true' } });
  ({ client } = await createTenant(server.admin, { cpu: 8, memory: 8 }));
  const created = await client.request('POST', '/api/v1/clusters/?wait=60', {
    name: 'web',
    instance_type: 'container',
    cpu_per_instance: 0.25,
    memory_per_instance: 0.25,
    instance_count: 2,
    ports: [{ port: 8080 }],
    service_type: 'NodePort',
    env: { MODE: 'prod' },
  });
  expect(created.body.wait?.converged, JSON.stringify(created.body)).toBe(true);
  web = await view(created.body.id);
  const v = await client.request('POST', '/api/v1/clusters/?wait=60', { name: 'vm', instance_type: 'vm', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 });
  expect(v.body.wait?.converged).toBe(true);
  vm = await view(v.body.id);
  expect(await renderedFormProblems(kc, web, server.installation)).toEqual([]);
  expect(await renderedFormProblems(kc, vm, server.installation)).toEqual([]);
});
afterAll(async () => {
  await server?.stop();
});

const sts = (name: string, ops: unknown[]) => patch('apps/v1', 'StatefulSet', web.namespace, name, ops);
const C = '/spec/template/spec/containers/0';

describe('drift by edit is repaired', () => {
  it.each<[string, () => Promise<unknown>]>([
    ['replicas scaled to 0', () => sts('web-1', [{ op: 'replace', path: '/spec/replicas', value: 0 }])],
    ['another image', () => sts('web-2', [{ op: 'replace', path: `${C}/image`, value: 'docker.io/library/busybox:1' }])],
    ['other resources', () => sts('web-1', [{ op: 'replace', path: `${C}/resources/limits/cpu`, value: '2' }, { op: 'replace', path: `${C}/resources/requests/cpu`, value: '2' }])],
    ['an env var added', () => sts('web-2', [{ op: 'add', path: `${C}/env/-`, value: { name: 'DEBUG', value: '1' } }])],
    ['an env var changed', () => sts('web-1', [{ op: 'replace', path: `${C}/env/0/value`, value: 'dev' }])],
    ['a container port added', () => sts('web-2', [{ op: 'add', path: `${C}/ports/-`, value: { containerPort: 9090, protocol: 'TCP' } }])],
    ['a sidecar container added', () => sts('web-1', [{ op: 'add', path: '/spec/template/spec/containers/-', value: { name: 'sidecar', image: 'docker.io/library/busybox:1' } }])],
    ['a capability added', () => sts('web-2', [{ op: 'add', path: `${C}/securityContext/capabilities/add`, value: ['NET_ADMIN'] }])],
    ['the service account token mounted', () => sts('web-1', [{ op: 'replace', path: '/spec/template/spec/automountServiceAccountToken', value: true }])],
    ['an instance label changed', () => sts('web-2', [{ op: 'replace', path: '/metadata/labels/kubekloud.io~1instance', value: '999999' }])],
    ['the Service type changed', () => patch('v1', 'Service', web.namespace, 'web-1', [{ op: 'replace', path: '/spec/type', value: 'ClusterIP' }, { op: 'remove', path: '/spec/ports/0/nodePort' }])],
    ['the Service selector retargeted', () => patch('v1', 'Service', web.namespace, 'web-2', [{ op: 'replace', path: '/spec/selector', value: { app: 'elsewhere' } }])],
    ['a Service port pointed elsewhere', () => patch('v1', 'Service', web.namespace, 'web-2', [{ op: 'replace', path: '/spec/ports/0/targetPort', value: 9999 }])],
    ['the default-deny policy opened', () => patch('networking.k8s.io/v1', 'NetworkPolicy', web.namespace, 'kubekloud-default-deny', [{ op: 'replace', path: '/spec/ingress', value: [{}] }])],
    ['the quota raised', () => patch('v1', 'ResourceQuota', web.namespace, 'kubekloud-quota', [{ op: 'replace', path: '/spec/hard/pods', value: '100' }])],
    ['a quota figure added', () => patch('v1', 'ResourceQuota', web.namespace, 'kubekloud-quota', [{ op: 'add', path: '/spec/hard/count~1secrets', value: '1000' }])],
    ['the limit range widened', () => patch('v1', 'LimitRange', web.namespace, 'kubekloud-limits', [{ op: 'replace', path: '/spec/limits/0/max/cpu', value: '64' }])],
    ['pod security relaxed', () => patch('v1', 'Namespace', undefined, web.namespace, [{ op: 'replace', path: '/metadata/labels/pod-security.kubernetes.io~1enforce', value: 'privileged' }])],
    ['a managed-by label removed', () => sts('web-1', [{ op: 'remove', path: '/metadata/labels/app.kubernetes.io~1managed-by' }])],
  ])('%s', async (_what, edit) => {
    await edit();
    const ms = await repaired(web, _what);
    expect(ms).toBeLessThan(30_000);
  });

  it("the cluster's history tells each repair, on its instance or the cluster, and the instances running", async () => {
    type Entry = { message: string; instance_name: string | null; detail: { to?: string } };
    const repairs = (await client.get(`/api/v1/clusters/${web.id}/history?kind=repair&limit=200`)).body as { items: Entry[]; total: number };
    expect(repairs.total).toBeGreaterThanOrEqual(19);
    expect(repairs.items.some((e) => e.instance_name === 'web-1' && /^Repaired StatefulSet: .*web-1/.test(e.message))).toBe(true);
    expect(repairs.items.some((e) => e.instance_name === null && /^Repaired NetworkPolicy: .*kubekloud-default-deny/.test(e.message))).toBe(true);
    const moves = (await client.get(`/api/v1/clusters/${web.id}/history?kind=status&limit=500`)).body as { items: Entry[] };
    expect(moves.items.filter((e) => e.detail.to === 'running').map((e) => e.instance_name)).toEqual(expect.arrayContaining(['web-1', 'web-2']));
  });

  it('a VirtualMachine halted behind its back runs again', async () => {
    await patch('kubevirt.io/v1', 'VirtualMachine', vm.namespace, 'vm-1', [{ op: 'replace', path: '/spec/runStrategy', value: 'Halted' }]);
    await repaired(vm, 'runStrategy');
    await eventually(async () => (await view(vm.id)).instances[0]!.status === 'running', 30_000, 'the VM running');
  });
});

describe('drift by delete and by addition is repaired', () => {
  it.each<[string, () => Promise<unknown>]>([
    ['a StatefulSet deleted', () => remove('apps/v1', 'StatefulSet', web.namespace, 'web-2')],
    ['a Service deleted', () => remove('v1', 'Service', web.namespace, 'web-1')],
    ['both network policies deleted', () => Promise.all([remove('networking.k8s.io/v1', 'NetworkPolicy', web.namespace, 'kubekloud-default-deny'), remove('networking.k8s.io/v1', 'NetworkPolicy', web.namespace, 'kubekloud-exposed-ports')])],
    ['the quota and limit range deleted', () => Promise.all([remove('v1', 'ResourceQuota', web.namespace, 'kubekloud-quota'), remove('v1', 'LimitRange', web.namespace, 'kubekloud-limits')])],
    ['a VirtualMachine deleted', () => remove('kubevirt.io/v1', 'VirtualMachine', vm.namespace, 'vm-1')],
  ])('%s', async (what, edit) => {
    await edit();
    await repaired(web, what);
    await repaired(vm, what);
  });

  it('a labelled allow-all policy and a labelled Service nothing renders are removed', async () => {
    const labels = { 'app.kubernetes.io/managed-by': 'kubekloud', 'kubekloud.io/installation': server.installation, 'kubekloud.io/cluster': String(web.id) };
    const { createKube } = await import('../../src/kube/client.ts');
    // Created with another field manager, as any client would.
    const other = createKube(kc);
    await other.apply({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-all', namespace: web.namespace, labels }, spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] } });
    await other.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'backdoor', namespace: web.namespace, labels }, spec: { type: 'ClusterIP', selector: { 'kubekloud.io/cluster': String(web.id) }, ports: [{ port: 22 }] } });
    await repaired(web, 'strays');
    // The count follows the delete's answer, which the list above can overtake.
    await eventually(async () => (await metric('kubekloud_strays_deleted_total')) >= 2, 5_000, 'both strays counted');
  });
});

describe('an instance whose repair cannot be applied', () => {
  it('shows repairing with the reason, not starting, and runs again once the repair goes through', async () => {
    // A webhook nobody answers, for this installation's StatefulSets (not their scale subresource): our repair is refused.
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    const name = `kubekloud-test-block-${server.installation}`;
    await admission.createValidatingWebhookConfiguration({
      body: {
        metadata: { name },
        webhooks: [
          {
            name: 'block.kubekloud.test',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            timeoutSeconds: 1,
            clientConfig: { url: 'https://127.0.0.1:1/block' },
            namespaceSelector: { matchLabels: { 'kubekloud.io/installation': server.installation } },
            rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['statefulsets'] }],
          },
        ],
      },
    });
    try {
      // The scale subresource is not covered by the webhook: this edit goes through, our repair does not.
      const { AppsV1Api } = await import('@kubernetes/client-node');
      await kc.makeApiClient(AppsV1Api).replaceNamespacedStatefulSetScale({ name: 'web-1', namespace: web.namespace, body: { metadata: { name: 'web-1', namespace: web.namespace }, spec: { replicas: 0 } } });
      const shown = await eventually(async () => {
        const i = (await view(web.id)).instances.find((x) => x.instance_name === 'web-1')!;
        return i.phase === 'repairing' ? i : undefined;
      }, 30_000, 'the instance shown as repairing');
      expect(shown.message).toContain('Repairing: StatefulSet');
      expect(shown.message).toContain('spec.replicas');
    } finally {
      await admission.deleteValidatingWebhookConfiguration({ name });
    }
    // The refused repairs backed off (0.5 s doubling, at most 60 s between tries): the next one puts it right.
    await repaired(web, 'replicas once the webhook is gone', 90_000);
    await eventually(async () => (await view(web.id)).instances.every((i) => i.status === 'running'), 60_000, 'running again');
  });
});

describe('the periodic resync', () => {
  it('lists and judges everything again, and writes nothing when nothing drifted', async () => {
    const quiet = await startServer({ env: { KUBEKLOUD_RESYNC_SECONDS: '2' } });
    try {
      const { client: tenant } = await createTenant(quiet.admin, { cpu: 2, memory: 2 });
      const c = await tenant.request('POST', '/api/v1/clusters/?wait=60', { name: 'quiet', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 2, ports: [{ port: 80 }] });
      expect(c.body.wait?.converged).toBe(true);
      const count = async (re: RegExp) => [...((await quiet.metrics.get()).body as string).matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
      const quietWrites = () => count(/^kubekloud_kube_request_duration_seconds_count\{verb="(?:apply|patch|delete)",[^}]*\} (\d+)/gm);
      const resyncs = () => count(/^kubekloud_watch_relists_total\{kind="StatefulSet",reason="resync"\} (\d+)/gm);
      const before = { writes: await quietWrites(), resyncs: await resyncs() };
      await eventually(async () => (await resyncs()) >= before.resyncs + 3, 30_000, 'three resyncs');
      expect(await quietWrites()).toBe(before.writes);
    } finally {
      await quiet.stop();
    }
  });
});
