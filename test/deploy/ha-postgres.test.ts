// The ha-postgres overlay renders to the prod system with its single
// PostgreSQL pod replaced by a CloudNativePG Cluster -- three instances,
// synchronous replication, base backups and WAL archiving to an object store,
// a ScheduledBackup, a PodMonitor -- with the API and the dump CronJob pointed
// at the Cluster's read-write Service and network policies that let exactly
// the database's flows through. A server-side dry run on the local control
// plane validates every object against the real schemas (the CloudNativePG
// and Prometheus Operator CRDs); copies with a wrong Cluster are refused.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/kube.ts';
import { connectionsNeeded, ensureOperatorCrds, find, kubectl, render, run, stageK8s, type Manifest, type Staged } from './fixture.ts';

const NS = 'kubekloud-api';
const OVERLAY = 'overlays/ha-postgres';
const DB = 'kubekloud-db';
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

// Throwaway object store settings, written where the operator's own file goes
// (stageK8s never copies a real secrets/*.env).
const objectStore = {
  DESTINATION_PATH: 's3://kubekloud-test-backups/kubekloud-db',
  ENDPOINT_URL: 'https://objects.example.test',
  ACCESS_KEY_ID: `AK${randomBytes(8).toString('hex')}`,
  ACCESS_SECRET_KEY: randomBytes(20).toString('hex'),
};
function stageHa(): Staged {
  const s = stageK8s();
  writeFileSync(
    join(s.dir, OVERLAY, 'secrets/object-store.env'),
    Object.entries(objectStore)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
    { mode: 0o600 },
  );
  return s;
}

const staged: Staged[] = [];
let objects: Manifest[];
let yaml: string;

beforeAll(() => {
  const s = stageHa();
  staged.push(s);
  ({ yaml, objects } = render(s, OVERLAY));
});
afterAll(() => {
  for (const s of staged) s.cleanup();
});

const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const container = (o: Manifest, name: string) => {
  const pod = o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec.template.spec;
  return pod.containers.find((c: any) => c.name === name);
};
const envOf = (c: any): Record<string, any> => Object.fromEntries(c.env.map((e: any) => [e.name, e]));

describe('the rendered ha-postgres overlay', () => {
  it('puts every namespaced object in kubekloud-api', () => {
    expect(objects.length).toBeGreaterThan(25);
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NS);
  });

  it('has no single-pod PostgreSQL left, and nothing that refers to it', () => {
    const gone = [
      ['Deployment', 'postgres'],
      ['Service', 'postgres-service'],
      ['PersistentVolumeClaim', 'postgres-data'],
      ['NetworkPolicy', 'postgres-ingress'],
      ['Secret', 'postgres-credentials'],
    ];
    for (const [kind, name] of gone) {
      expect(objects.filter((o) => o.kind === kind && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`))), `${kind}/${name}`).toEqual([]);
    }
    // Secret values are base64 in the output, so these names appear only as references.
    expect(yaml).not.toContain('postgres-service');
    expect(yaml).not.toContain('postgres-credentials');
    expect(yaml).not.toContain('claimName: postgres-data');
  });

  it("keeps the prod overlay's settings", () => {
    const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;
    const api = find(objects, 'Deployment', 'kubekloud-api');
    expect(container(api, 'api').image).toBe(`harbor.local:30002/kubekloud/api:${version}`);
    expect(api.spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable).toBe('DoNotSchedule');
    expect(envOf(container(find(objects, 'CronJob', 'kubekloud-db-backup'), 'backup')).BACKUP_RETENTION_DAYS.value).toBe('14');
    find(objects, 'ServiceMonitor', 'kubekloud-api');
    find(objects, 'PrometheusRule', 'kubekloud-api');
    expect(find(objects, 'Namespace', NS).metadata.labels['kubekloud.io/environment']).toBe('prod');
  });

  it('runs a CloudNativePG Cluster of 3 instances on 3 nodes with quorum synchronous replication', () => {
    const c = find(objects, 'Cluster', DB);
    expect(c.apiVersion).toBe('postgresql.cnpg.io/v1');
    expect(c.spec.instances).toBe(3);
    // A commit is acknowledged once a standby has it; no standby, no write; a
    // failover promotes only a standby that holds every acknowledged commit.
    expect(c.spec.postgresql.synchronous).toEqual({ method: 'any', number: 1, dataDurability: 'required', failoverQuorum: true });
    // The deprecated interface is exclusive with the new one.
    expect(c.spec).not.toHaveProperty('minSyncReplicas');
    expect(c.spec).not.toHaveProperty('maxSyncReplicas');
    expect(c.spec.affinity).toEqual({ enablePodAntiAffinity: true, podAntiAffinityType: 'required', topologyKey: 'kubernetes.io/hostname' });
    expect(c.spec.bootstrap).toEqual({ initdb: { database: 'kubekloud', owner: 'kubekloud' } });
    expect(c.spec.storage.size).toBe('10Gi');
    expect(c.spec.resources.requests).toEqual(c.spec.resources.limits);
    expect(c.spec.primaryUpdateMethod).toBe('switchover');
    // Every connection the API replicas the HPA may run can open (a rollout's extra one included).
    expect(Number(c.spec.postgresql.parameters.max_connections)).toBeGreaterThanOrEqual(connectionsNeeded(objects));
    // The server's major version is the dump CronJob's pg_dump's (pg_dump refuses a newer server).
    const server = /:(\d+)\.\d+-system-/.exec(c.spec.imageName)?.[1];
    const pgDump = /^postgres:(\d+)-/.exec(container(find(objects, 'CronJob', 'kubekloud-db-backup'), 'backup').image)?.[1];
    expect(server).toBeDefined();
    expect(server).toBe(pgDump);
  });

  it('archives WAL and base backups to the object store of secrets/object-store.env, kept 30 days', () => {
    const backup = find(objects, 'Cluster', DB).spec.backup;
    expect(backup.retentionPolicy).toMatch(/^[1-9][0-9]*[dwm]$/);
    const store = backup.barmanObjectStore;
    expect(store.destinationPath).toBe(objectStore.DESTINATION_PATH);
    expect(store.endpointURL).toBe(objectStore.ENDPOINT_URL);
    expect(store.wal).toMatchObject({ compression: 'gzip' });
    expect(store.data).toMatchObject({ compression: 'gzip' });
    expect(store.s3Credentials).toEqual({
      accessKeyId: { name: 'kubekloud-db-object-store', key: 'ACCESS_KEY_ID' },
      secretAccessKey: { name: 'kubekloud-db-object-store', key: 'ACCESS_SECRET_KEY' },
    });
    // The Secret exists under exactly that name (no hash suffix), with the keys.
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'kubekloud-db-object-store')!;
    expect(secret).toBeDefined();
    const data = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    expect(data).toMatchObject({ ACCESS_KEY_ID: objectStore.ACCESS_KEY_ID, ACCESS_SECRET_KEY: objectStore.ACCESS_SECRET_KEY });
    // The render-time ConfigMap that carried the bucket is not deployed; no placeholder is left.
    expect(byKind('ConfigMap').map((o) => o.metadata.name)).not.toContain('kubekloud-db-object-store-target');
    expect(yaml).not.toContain('SET_FROM_OBJECT_STORE_ENV');
  });

  it('takes a base backup daily, and one at once', () => {
    const sb = find(objects, 'ScheduledBackup', 'kubekloud-db-daily');
    expect(sb.spec.cluster).toEqual({ name: DB });
    expect(sb.spec.method).toBe('barmanObjectStore');
    // Six fields (seconds first): once a day.
    expect(sb.spec.schedule).toMatch(/^\d+ \d+ \d+ \* \* \*$/);
    expect(sb.spec.immediate).toBe(true);
  });

  it("scrapes every instance's metrics port with a PodMonitor", () => {
    const pm = find(objects, 'PodMonitor', DB);
    expect(pm.spec.selector.matchLabels).toEqual({ 'cnpg.io/cluster': DB, 'cnpg.io/podRole': 'instance' });
    expect(pm.spec.namespaceSelector).toEqual({ matchNames: [NS] });
    expect(pm.spec.podMetricsEndpoints).toEqual([expect.objectContaining({ port: 'metrics' })]);
  });

  it('alerts on a down instance, a missing synchronous standby, replication lag, stuck WAL archiving and an old base backup', () => {
    const rule = find(objects, 'PrometheusRule', DB);
    const alerts = rule.spec.groups.flatMap((g: any) => g.rules);
    expect(alerts.map((a: any) => a.alert)).toEqual([
      'KubeKloudDbInstanceDown',
      'KubeKloudDbSyncStandbyMissing',
      'KubeKloudDbReplicationLag',
      'KubeKloudDbWalArchivingStuck',
      'KubeKloudDbBaseBackupTooOld',
    ]);
    // Only metrics CloudNativePG's instances export, scoped to this namespace.
    for (const a of alerts) {
      for (const m of a.expr.match(/cnpg_[a-z_]+/g) ?? []) expect(['cnpg_collector_up', 'cnpg_collector_sync_replicas', 'cnpg_pg_replication_lag', 'cnpg_collector_pg_wal_archive_status', 'cnpg_collector_last_available_backup_timestamp']).toContain(m);
      expect(a.expr, a.alert).toContain('namespace="kubekloud-api"');
      expect(a.labels.severity, a.alert).toMatch(/^(critical|warning)$/);
    }
    // The prod overlay's own alerts stay.
    expect(find(objects, 'PrometheusRule', 'kubekloud-api')).toBeDefined();
  });

  it("points the API at the Cluster's read-write Service through the operator's app Secret", () => {
    const env = envOf(container(find(objects, 'Deployment', 'kubekloud-api'), 'api'));
    // `uri` of <cluster>-app is postgresql://kubekloud:<password>@kubekloud-db-rw.kubekloud-api:5432/kubekloud.
    expect(env.DATABASE_URL).toEqual({ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: `${DB}-app`, key: 'uri' } } });
    expect(env.KUBEKLOUD_ADMIN_TOKEN.valueFrom.secretKeyRef.name).toMatch(/^kubekloud-api-secrets-/);
  });

  it('points the logical dump CronJob at kubekloud-db-rw with the app credentials', () => {
    const c = container(find(objects, 'CronJob', 'kubekloud-db-backup'), 'backup');
    const env = envOf(c);
    expect(env.PGHOST.value).toBe(`${DB}-rw`);
    expect(env.PGPORT.value).toBe('5432');
    for (const [name, key] of [
      ['PGUSER', 'username'],
      ['PGPASSWORD', 'password'],
      ['PGDATABASE', 'dbname'],
    ] as const) {
      expect(env[name].valueFrom.secretKeyRef, name).toEqual({ name: `${DB}-app`, key });
    }
    expect(c.command).toEqual(['/bin/bash', '/scripts/backup.sh']);
  });

  it('keeps the object store settings out of git', () => {
    const ignored = run('git', ['check-ignore', '-q', `k8s/${OVERLAY}/secrets/object-store.env`]);
    expect(ignored.code).toBe(0);
    expect(run('git', ['check-ignore', '-q', `k8s/${OVERLAY}/secrets/object-store.env.example`]).code).toBe(1);
  });
});

// A small NetworkPolicy evaluator (matchLabels / matchExpressions, namespace
// and pod selectors, numeric ports): is a connection allowed by the egress
// policies at its source and the ingress policies at its destination? Peers
// outside kubekloud-api are only checked on the kubekloud-api side.
type Peer = { ns: string; labels: Record<string, string> } | { external: true };
const selects = (sel: any, labels: Record<string, string>) =>
  Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
  (sel?.matchExpressions ?? []).every((e: any) => {
    switch (e.operator) {
      case 'In':
        return e.values.includes(labels[e.key]);
      case 'NotIn':
        return !e.values.includes(labels[e.key]);
      case 'Exists':
        return e.key in labels;
      default:
        return !(e.key in labels);
    }
  });
const peerMatches = (rule: any, policyNs: string, peer: Peer) => {
  if ('external' in peer) return rule.ipBlock !== undefined;
  if (rule.ipBlock) return false;
  const nsOk = rule.namespaceSelector ? selects(rule.namespaceSelector, { 'kubernetes.io/metadata.name': peer.ns }) : peer.ns === policyNs;
  return nsOk && (rule.podSelector ? selects(rule.podSelector, peer.labels) : true);
};
function admits(policies: Manifest[], dir: 'Ingress' | 'Egress', subject: Peer, other: Peer, port: number, protocol: string): boolean {
  if ('external' in subject || subject.ns !== NS) return true;
  const applicable = policies.filter((p) => (p.spec.policyTypes ?? ['Ingress']).includes(dir) && selects(p.spec.podSelector, subject.labels));
  if (applicable.length === 0) return true;
  return applicable.some((p) =>
    (p.spec[dir === 'Ingress' ? 'ingress' : 'egress'] ?? []).some((rule: any) => {
      const peers = dir === 'Ingress' ? rule.from : rule.to;
      const portOk = !rule.ports?.length || rule.ports.some((x: any) => x.port === port && (x.protocol ?? 'TCP') === protocol);
      return portOk && (!peers?.length || peers.some((x: any) => peerMatches(x, p.metadata.namespace ?? NS, other)));
    }),
  );
}
const flows = (policies: Manifest[], from: Peer, to: Peer, port: number, protocol = 'TCP') =>
  admits(policies, 'Egress', from, to, port, protocol) && admits(policies, 'Ingress', to, from, port, protocol);

describe('the network policies around kubekloud-db', () => {
  const pod = (labels: Record<string, string>, ns = NS): Peer => ({ ns, labels });
  const instance = pod({ 'cnpg.io/cluster': DB, 'cnpg.io/podRole': 'instance', 'cnpg.io/instanceRole': 'primary' });
  const standby = pod({ 'cnpg.io/cluster': DB, 'cnpg.io/podRole': 'instance', 'cnpg.io/instanceRole': 'replica' });
  const joinJob = pod({ 'cnpg.io/cluster': DB, 'cnpg.io/jobRole': 'join' });
  const api = pod({ app: 'kubekloud-api' });
  const dump = pod({ app: 'kubekloud-db-backup' });
  const operator = pod({ 'app.kubernetes.io/name': 'cloudnative-pg' }, 'cnpg-system');
  const prometheus = pod({ 'app.kubernetes.io/name': 'prometheus' }, 'monitoring');
  const dns = pod({ 'k8s-app': 'kube-dns' }, 'kube-system');
  const outside: Peer = { external: true };
  const policies = () => byKind('NetworkPolicy');

  it('lets the API, the dump job and the other instances reach PostgreSQL, and no one else', () => {
    const p = policies();
    expect(flows(p, api, instance, 5432)).toBe(true);
    expect(flows(p, dump, instance, 5432)).toBe(true);
    expect(flows(p, standby, instance, 5432)).toBe(true);
    expect(flows(p, joinJob, instance, 5432)).toBe(true);
    expect(flows(p, operator, instance, 5432)).toBe(true);
    expect(flows(p, pod({ app: 'something-else' }), instance, 5432)).toBe(false);
    expect(flows(p, prometheus, instance, 5432)).toBe(false);
    expect(flows(p, pod({ app: 'kubekloud-api' }, 'tenant-ns'), instance, 5432)).toBe(false);
    expect(flows(p, api, instance, 8000)).toBe(false);
  });

  it("lets the API reach the database by the overlay's own policy, whatever the base allows the API", () => {
    // The base's API egress is written for the single-pod PostgreSQL (app=postgres), not these pods.
    // NetworkPolicies add up, so the overlay's own policies must admit the flow by themselves.
    const own = policies().filter((x) => x.metadata.name === 'kubekloud-api-to-kubekloud-db' || x.metadata.name === 'kubekloud-db-ingress');
    expect(flows(own, api, instance, 5432)).toBe(true);
    const dumpOwn = policies().filter((x) => x.metadata.name === 'kubekloud-db-backup-to-kubekloud-db' || x.metadata.name === 'kubekloud-db-ingress');
    expect(flows(dumpOwn, dump, instance, 5432)).toBe(true);
  });

  it("lets the operator reach the instance manager's status port, and Prometheus the metrics port", () => {
    const p = policies();
    expect(flows(p, operator, instance, 8000)).toBe(true);
    expect(flows(p, standby, instance, 8000)).toBe(true);
    expect(flows(p, prometheus, instance, 9187)).toBe(true);
    expect(flows(p, pod({ 'app.kubernetes.io/name': 'cloudnative-pg' }, 'default'), instance, 8000)).toBe(false);
    expect(flows(p, api, instance, 9187)).toBe(false);
  });

  it('lets the instances resolve names, replicate, reach the Kubernetes API and the object store, and nothing else', () => {
    const p = policies();
    expect(flows(p, standby, dns, 53, 'UDP')).toBe(true);
    expect(flows(p, standby, dns, 53, 'TCP')).toBe(true);
    expect(flows(p, standby, instance, 5432)).toBe(true);
    expect(flows(p, joinJob, outside, 6443)).toBe(true);
    expect(flows(p, instance, outside, 443)).toBe(true);
    expect(flows(p, instance, outside, 5432)).toBe(false);
    expect(flows(p, instance, api, 8000)).toBe(false);
    expect(flows(p, instance, outside, 80)).toBe(false);
  });
});

describe('a server-side dry run on the control plane', () => {
  // The whole overlay, into a namespace of its own: the dev overlay test
  // (cluster.test.ts) creates and deletes kubekloud-api while this file runs.
  // A wrapping kustomization moves every object there and changes nothing else.
  const dryNs = `kubekloud-ha-dryrun-${randomBytes(3).toString('hex')}`;
  let nsCreated = false;
  const wrap = (s: Staged) => {
    const dir = join(s.dir, 'ha-postgres-dryrun');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'kustomization.yaml'), `resources:\n  - ../${OVERLAY}\nnamespace: ${dryNs}\n`);
    return dir;
  };
  const dryRun = (dir: string) => kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=kubekloud-deploy', '-k', dir]);
  const applied = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.includes('serverside-applied (server dry run)'))
      .map((l) => l.split(' ')[0]!.replace(/^([^./]+)[^/]*\//, '$1/'));
  const ref = (o: Manifest) => `${o.kind.toLowerCase()}/${o.metadata.name}`;
  // What the wrapper renders: the overlay's objects, only their namespace changed.
  const expected = (s: Staged) => {
    const wrapped = render(s, 'ha-postgres-dryrun').objects;
    const plain = render(s, OVERLAY).objects;
    const sameElsewhere = (o: Manifest) => JSON.stringify({ ...o, metadata: { ...o.metadata, namespace: undefined, name: o.kind === 'Namespace' ? undefined : o.metadata.name } });
    expect(wrapped.map(sameElsewhere)).toEqual(plain.map(sameElsewhere));
    expect(wrapped.filter((o) => o.metadata.namespace !== undefined && o.metadata.namespace !== dryNs)).toEqual([]);
    return wrapped.map(ref);
  };

  beforeAll(async () => {
    await ensureOperatorCrds();
    const r = kubectl(['create', 'namespace', dryNs]);
    if (r.code !== 0) throw new Error(r.stderr);
    nsCreated = true;
  }, 300_000);
  afterAll(() => {
    if (nsCreated) kubectl(['delete', 'namespace', dryNs, '--wait=false']);
  });

  it('accepts every object of the overlay, the Cluster, ScheduledBackup and PodMonitor included', () => {
    const r = dryRun(wrap(staged[0]!));
    expect(r.code, r.stderr).toBe(0);
    expect(applied(r.stdout).sort()).toEqual(expected(staged[0]!).sort());
    for (const x of ['cluster/kubekloud-db', 'scheduledbackup/kubekloud-db-daily', 'podmonitor/kubekloud-db', 'prometheusrule/kubekloud-db']) expect(applied(r.stdout)).toContain(x);
  }, 120_000);

  // Copies of the overlay with one mistake in the Cluster: the CloudNativePG
  // schema refuses the Cluster, and only it.
  it.each([
    {
      mistake: 'a synchronous method that does not exist and a retention policy in words',
      edit: (s: string) => s.replace('method: any', 'method: all').replace('retentionPolicy: 30d', 'retentionPolicy: 30 days'),
      errors: [/spec\.postgresql\.synchronous\.method: Unsupported value: "all"/, /spec\.backup\.retentionPolicy: Invalid value: "30 days"/],
    },
    {
      mistake: 'a field the Cluster does not have (replicas, for instances)',
      edit: (s: string) => s.replace(/^ {2}instances: 3$/m, '  replicas: 3'),
      errors: [/\.spec\.replicas: field not declared in schema/],
    },
    {
      mistake: 'no instance at all',
      edit: (s: string) => s.replace(/^ {2}instances: 3$/m, '  instances: 0'),
      errors: [/spec\.instances: Invalid value: 0: spec\.instances in body should be greater than or equal to 1/],
    },
  ])('refuses a Cluster with $mistake', ({ edit, errors }) => {
    const s = stageHa();
    staged.push(s);
    const file = join(s.dir, OVERLAY, 'cluster.yaml');
    const original = readFileSync(file, 'utf8');
    const broken = edit(original);
    expect(broken).not.toBe(original);
    writeFileSync(file, broken);
    const r = dryRun(wrap(s));
    expect(r.code).not.toBe(0);
    const all = expected(s);
    for (const e of errors) expect(r.stderr).toMatch(e);
    const ok = applied(r.stdout);
    expect(ok).not.toContain('cluster/kubekloud-db');
    expect(ok.sort()).toEqual(all.filter((x) => x !== 'cluster/kubekloud-db').sort());
  }, 120_000);
});
