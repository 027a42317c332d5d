// The kustomize base and both overlays render, and what they render is the
// deployment architecture: sizes, probes, security contexts, spreading,
// autoscaling, disruption budget, network policies, backups, monitoring --
// with no secret value committed anywhere.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/kube.ts';
import { SERVER_ENV, SERVER_NODE_FLAGS } from '../support/server.ts';
import { connectionsNeeded, find, k8sDir, render, run, stageK8s, type Manifest, type Staged } from './fixture.ts';

/** SERVER_ENV as `npm start` spells it before its command. */
const envWords = Object.entries(SERVER_ENV).map(([k, v]) => `${k}=${v}`).join(' ');

let staged: Staged;
const rendered: Record<string, Manifest[]> = {};

beforeAll(() => {
  staged = stageK8s();
});
afterAll(() => staged?.cleanup());

const restrictedContainer = (c: any, uid: number) => {
  expect(c.securityContext).toMatchObject({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: uid,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
};

describe('kubectl kustomize', () => {
  it.each(['base', 'overlays/dev', 'overlays/prod'])('renders k8s/%s', (target) => {
    const { objects } = render(staged, target);
    rendered[target] = objects;
    expect(objects.length).toBeGreaterThan(20);
    for (const o of objects) {
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].includes(o.kind)) {
        expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('kubekloud-api');
      }
    }
  });
});

describe('the rendered system', () => {
  const objs = (t = 'overlays/prod') => {
    rendered[t] ??= render(staged, t).objects;
    return rendered[t]!;
  };

  it('puts everything in kubekloud-api, a namespace that enforces the restricted pod security profile', () => {
    const ns = find(objs(), 'Namespace', 'kubekloud-api');
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('runs API replicas of the Harbor image with the sizes, probes and security context of the architecture, their count left to the HPA', () => {
    for (const t of ['base', 'overlays/dev', 'overlays/prod']) {
      // The HPA owns .spec.replicas (its minReplicas, 2, is the floor): a count here would conflict with it on the next apply.
      expect(find(objs(t), 'Deployment', 'kubekloud-api').spec, t).not.toHaveProperty('replicas');
    }
    const d = find(objs(), 'Deployment', 'kubekloud-api');
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toMatch(/^harbor\.local:30002\/kubekloud\/api:/);
    // The server's V8 flags (its memory), as `npm start` and the image's CMD run it.
    expect(c.command).toEqual(['node', ...SERVER_NODE_FLAGS, 'dist/main.mjs']);
    const start = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).scripts.start as string;
    expect(start).toBe(`npm run build && ${envWords} exec node ${SERVER_NODE_FLAGS.join(' ')} dist/main.mjs`);
    // Its environment beside the flags (glibc's malloc arenas), as the image's ENV and `npm start` set it.
    for (const [name, value] of Object.entries(SERVER_ENV)) expect(c.env, name).toContainEqual({ name, value });
    expect(pod.imagePullSecrets).toEqual([{ name: 'harbor-regcred' }]);
    expect(pod.serviceAccountName).toBe('kubekloud-api-sa');
    expect(c.resources).toEqual({ requests: { memory: '512Mi', cpu: '500m' }, limits: { memory: '1Gi', cpu: '1000m' } });
    expect(c.livenessProbe.httpGet.path).toBe('/health');
    expect(c.readinessProbe.httpGet.path).toBe('/ready');
    expect(c.startupProbe.httpGet.path).toBe('/health');
    expect(c.ports).toContainEqual(expect.objectContaining({ containerPort: 8000 }));
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    restrictedContainer(c, 1000);
    expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes.find((v: any) => v.name === 'tmp').emptyDir).toBeDefined();
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    expect(c.lifecycle.preStop.sleep.seconds).toBeGreaterThan(0);
    expect(pod.topologySpreadConstraints[0]).toMatchObject({ topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule' });
    expect(pod.affinity.podAntiAffinity).toBeDefined();
    expect(d.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090', 'prometheus.io/path': '/metrics' });
    // Secrets reach the pod from generated Secrets, by reference.
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e]));
    expect(env.DATABASE_URL.valueFrom.secretKeyRef.name).toMatch(/^kubekloud-api-secrets-/);
    expect(env.KUBEKLOUD_ADMIN_TOKEN.valueFrom.secretKeyRef.name).toMatch(/^kubekloud-api-secrets-/);
  });

  it('deploys in prod the image tag that build-push.sh pushes by default: the package version', () => {
    const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;
    expect(find(objs(), 'Deployment', 'kubekloud-api').spec.template.spec.containers[0].image).toBe(`harbor.local:30002/kubekloud/api:${version}`);
  });

  it('exposes the API through a LoadBalancer on port 80 to 8000, and in prod 443 to the HTTPS port', () => {
    const dev = find(objs('overlays/dev'), 'Service', 'kubekloud-api-service');
    expect(dev.spec.type).toBe('LoadBalancer');
    expect(dev.spec.selector).toEqual({ app: 'kubekloud-api' });
    expect(dev.spec.ports).toEqual([expect.objectContaining({ port: 80, targetPort: 'http' })]);
    const prod = find(objs(), 'Service', 'kubekloud-api-service');
    expect(prod.spec.type).toBe('LoadBalancer');
    expect(prod.spec.ports).toEqual([expect.objectContaining({ port: 80, targetPort: 'http' }), expect.objectContaining({ port: 443, targetPort: 'https' })]);
  });

  it('serves HTTPS in prod from the cert-manager certificate\'s Secret, mounted read-only, with the probes on HTTPS', () => {
    const cert = find(objs(), 'Certificate', 'kubekloud-api');
    const d = find(objs(), 'Deployment', 'kubekloud-api');
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    const volume = pod.volumes.find((v: any) => v.secret?.secretName === cert.spec.secretName);
    expect(volume, 'the certificate Secret is a volume').toBeDefined();
    const mount = c.volumeMounts.find((m: any) => m.name === volume.name);
    expect(mount).toMatchObject({ readOnly: true });
    const env = Object.fromEntries(c.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({
      KUBEKLOUD_TLS_CERT_FILE: `${mount.mountPath}/tls.crt`,
      KUBEKLOUD_TLS_KEY_FILE: `${mount.mountPath}/tls.key`,
      KUBEKLOUD_TLS_PORT: '8443',
      KUBEKLOUD_TLS_PUBLIC_PORT: '443',
    });
    expect(c.ports).toContainEqual({ name: 'https', containerPort: 8443, protocol: 'TCP' });
    // With TLS on, PORT only redirects: a probe there would pass on the 308 whatever /ready says.
    for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(c[p].httpGet, p).toMatchObject({ port: 'https', scheme: 'HTTPS' });
    expect(c.readinessProbe.httpGet.path).toBe('/ready');
    // dev stays plain HTTP, without a certificate.
    const devC = find(objs('overlays/dev'), 'Deployment', 'kubekloud-api').spec.template.spec.containers[0];
    expect(devC.env.map((e: any) => e.name)).not.toContain('KUBEKLOUD_TLS_CERT_FILE');
    expect(objs('overlays/dev').some((o) => o.kind === 'Certificate')).toBe(false);
  });

  it('keeps /metrics private: its own pod port behind a ClusterIP Service, scraped from there, reachable only from monitoring', () => {
    for (const t of ['overlays/dev', 'overlays/prod']) {
      const c = find(objs(t), 'Deployment', 'kubekloud-api').spec.template.spec.containers[0];
      expect(c.ports, t).toContainEqual({ name: 'metrics', containerPort: 9090, protocol: 'TCP' });
      expect(find(objs(t), 'ConfigMap', 'kubekloud-api-config').data.KUBEKLOUD_METRICS_PORT).toBe('9090');
      // No Service but the metrics one reaches the metrics port.
      const services = objs(t).filter((o) => o.kind === 'Service' && o.spec.selector?.app === 'kubekloud-api');
      const toMetrics = services.filter((s) => s.spec.ports.some((p: any) => p.targetPort === 'metrics' || p.targetPort === 9090));
      expect(toMetrics.map((s) => `${s.metadata.name} ${s.spec.type}`), t).toEqual(['kubekloud-api-metrics ClusterIP']);
    }
    // The ServiceMonitor selects exactly the metrics Service, on its metrics port.
    const sm = find(objs(), 'ServiceMonitor', 'kubekloud-api');
    const selected = objs().filter(
      (o) => o.kind === 'Service' && Object.entries(sm.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => o.metadata.labels?.[k] === v),
    );
    expect(selected.map((s) => s.metadata.name)).toEqual(['kubekloud-api-metrics']);
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
    // Ingress to 9090 only from the monitoring namespace.
    const ingress = objs()
      .filter((o) => o.kind === 'NetworkPolicy' && o.spec.podSelector.matchLabels?.app === 'kubekloud-api' && o.spec.policyTypes.includes('Ingress'))
      .flatMap((p) => p.spec.ingress);
    const toMetricsPort = ingress.filter((r: any) => r.ports.some((p: any) => p.port === 9090));
    expect(toMetricsPort).toEqual([{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ port: 9090, protocol: 'TCP' }] }]);
    expect(ingress.filter((r: any) => !r.from).flatMap((r: any) => r.ports.map((p: any) => p.port))).toEqual([8000, 8443]);
  });

  it('lets the API pods reach only the Kubernetes API server\'s ports, PostgreSQL and DNS', () => {
    for (const t of ['overlays/dev', 'overlays/prod']) {
      const apiPod = find(objs(t), 'Deployment', 'kubekloud-api').spec.template.metadata.labels;
      const selects = (sel: any) =>
        Object.entries(sel.matchLabels ?? {}).every(([k, v]) => apiPod[k] === v) &&
        (sel.matchExpressions ?? []).every((e: any) => e.operator === 'In' && e.values.includes(apiPod[e.key]));
      const rules = objs(t)
        .filter((o) => o.kind === 'NetworkPolicy' && o.spec.policyTypes.includes('Egress') && selects(o.spec.podSelector))
        .flatMap((p) => p.spec.egress ?? []);
      // Every rule names ports: nothing is open to every port.
      for (const r of rules) expect(r.ports?.length, `${t}: ${JSON.stringify(r)}`).toBeGreaterThan(0);
      const describe = (r: any) => `${JSON.stringify(r.to ?? 'anywhere')} ${r.ports.map((p: any) => `${p.port}/${p.protocol}`).join(',')}`;
      expect(rules.map(describe).sort(), t).toEqual(
        [
          '"anywhere" 443/TCP,6443/TCP',
          '[{"podSelector":{"matchLabels":{"app":"postgres"}}}] 5432/TCP',
          '[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}}}] 53/UDP,53/TCP',
        ].sort(),
      );
    }
  });

  it('autoscales 2 to 10 on CPU 70 % and memory 80 %, and keeps one pod through disruptions', () => {
    const h = find(objs(), 'HorizontalPodAutoscaler', 'kubekloud-api-hpa');
    expect(h.spec).toMatchObject({ minReplicas: 2, maxReplicas: 10, scaleTargetRef: { kind: 'Deployment', name: 'kubekloud-api' } });
    const targets = Object.fromEntries(h.spec.metrics.map((m: any) => [m.resource.name, m.resource.target.averageUtilization]));
    expect(targets).toEqual({ cpu: 70, memory: 80 });
    const pdb = find(objs(), 'PodDisruptionBudget', 'kubekloud-api-pdb');
    expect(pdb.spec).toMatchObject({ minAvailable: 1, selector: { matchLabels: { app: 'kubekloud-api' } } });
  });

  it('runs PostgreSQL 16 with Recreate, pg_isready probes, a 10Gi ReadWriteOnce volume and a ClusterIP service', () => {
    const d = find(objs(), 'Deployment', 'postgres');
    expect(d.spec.strategy.type).toBe('Recreate');
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe('postgres:16-alpine');
    for (const p of ['livenessProbe', 'readinessProbe']) expect(c[p].exec.command.join(' ')).toContain('pg_isready');
    expect(c.resources).toEqual({ requests: { memory: '256Mi', cpu: '250m' }, limits: { memory: '512Mi', cpu: '500m' } });
    expect(pod.securityContext).toMatchObject({ runAsUser: 70, fsGroup: 70 });
    restrictedContainer(c, 70);
    expect(c.env).toContainEqual({ name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' });
    const pvc = find(objs(), 'PersistentVolumeClaim', 'postgres-data');
    expect(pvc.spec).toMatchObject({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } });
    const s = find(objs(), 'Service', 'postgres-service');
    expect(s.spec).toMatchObject({ type: 'ClusterIP', ports: [expect.objectContaining({ port: 5432 })] });
  });

  it('lets PostgreSQL accept every connection the API replicas the HPA may run can open, a rollout\'s extra one included', () => {
    for (const t of ['base', 'overlays/dev', 'overlays/prod']) {
      const args: string[] = find(objs(t), 'Deployment', 'postgres').spec.template.spec.containers[0].args ?? [];
      // The image's entrypoint runs its arguments as the server's command line when they start with `postgres`.
      expect(args[0], t).toBe('postgres');
      const setting = args.map((a, i) => (args[i - 1] === '-c' ? /^max_connections=(\d+)$/.exec(a)?.[1] : undefined)).find(Boolean);
      expect(Number(setting), t).toBeGreaterThanOrEqual(connectionsNeeded(objs(t)));
    }
  });

  it('denies all traffic by default and lets only the API and the backup job reach PostgreSQL', () => {
    const all = objs().filter((o) => o.kind === 'NetworkPolicy');
    const deny = all.find((p) => p.metadata.name === 'default-deny')!;
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const pg = all.find((p) => p.metadata.name === 'postgres-ingress')!;
    expect(pg.spec.ingress).toEqual([
      {
        from: [{ podSelector: { matchLabels: { app: 'kubekloud-api' } } }, { podSelector: { matchLabels: { app: 'kubekloud-db-backup' } } }],
        ports: [{ port: 5432, protocol: 'TCP' }],
      },
    ]);
    // No other policy admits ingress to PostgreSQL.
    const toPg = all.filter((p) => p.spec.policyTypes.includes('Ingress') && p.spec.podSelector.matchLabels?.app === 'postgres');
    expect(toPg.map((p) => p.metadata.name)).toEqual(['postgres-ingress']);
    const api = all.find((p) => p.metadata.name === 'kubekloud-api-ingress')!;
    expect(api.spec.ingress).toEqual([{ ports: [{ port: 8000, protocol: 'TCP' }, { port: 8443, protocol: 'TCP' }] }]);
    const devApi = find(objs('overlays/dev'), 'NetworkPolicy', 'kubekloud-api-ingress');
    expect(devApi.spec.ingress).toEqual([{ ports: [{ port: 8000, protocol: 'TCP' }] }]);
  });

  it('backs up daily with the script it mounts, to its own volume, keeping 7 days in dev and 14 in prod', () => {
    for (const [target, days] of [['overlays/dev', '7'], ['overlays/prod', '14']] as const) {
      const cj = find(objs(target), 'CronJob', 'kubekloud-db-backup');
      expect(cj.spec.schedule).toMatch(/^\d+ \d+ \* \* \*$/);
      const pod = cj.spec.jobTemplate.spec.template.spec;
      const c = pod.containers[0];
      expect(c.command).toEqual(['/bin/bash', '/scripts/backup.sh']);
      expect(c.env).toContainEqual({ name: 'BACKUP_RETENTION_DAYS', value: days });
      restrictedContainer(c, 70);
      expect(pod.volumes.find((v: any) => v.name === 'backups').persistentVolumeClaim.claimName).toBe('kubekloud-backups');
      const cm = find(objs(target), 'ConfigMap', pod.volumes.find((v: any) => v.name === 'script').configMap.name);
      expect(cm.data['backup.sh']).toBe(readFileSync(join(k8sDir, 'base/backup/backup.sh'), 'utf8'));
    }
    expect(find(objs(), 'PersistentVolumeClaim', 'kubekloud-backups').spec.accessModes).toEqual(['ReadWriteOnce']);
  });

  it('grants the API identity no access to secrets, RBAC writes or pod exec, and nodes and bindings only to read', () => {
    const role = find(objs(), 'ClusterRole', 'kubekloud-api-role');
    const resources = role.rules.flatMap((r: any) => r.resources);
    const nodes = role.rules.filter((r: any) => r.resources.includes('nodes'));
    expect(nodes).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }]);
    for (const forbidden of ['secrets', 'nodes/proxy', 'nodes/status', 'pods/exec', 'configmaps', 'clusterroles', 'roles', '*']) {
      expect(resources).not.toContain(forbidden);
    }
    // The isolation checks read who is bound in a tenant's namespace; nothing writes RBAC.
    const rbac = role.rules.filter((r: any) => r.apiGroups.includes('rbac.authorization.k8s.io'));
    expect(rbac).toEqual([{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings', 'clusterrolebindings'], verbs: ['get', 'list'] }]);
    const pods = role.rules.find((r: any) => r.resources.includes('pods'));
    expect(pods.verbs).toEqual(['get', 'list', 'watch']);
    expect(role.rules.flatMap((r: any) => r.verbs)).not.toContain('*');
    const crb = find(objs(), 'ClusterRoleBinding', 'kubekloud-api-role');
    expect(crb.subjects).toEqual([{ kind: 'ServiceAccount', name: 'kubekloud-api-sa', namespace: 'kubekloud-api' }]);
  });

  it("grants exactly KubeVirt's pause, unpause and restart (update) and console and vnc (get), no other subresource of virt-api", () => {
    const role = find(objs(), 'ClusterRole', 'kubekloud-api-role');
    const kubevirt = role.rules.filter((r: any) => r.apiGroups.includes('subresources.kubevirt.io'));
    expect(kubevirt).toEqual([
      {
        apiGroups: ['subresources.kubevirt.io'],
        resources: ['virtualmachineinstances/pause', 'virtualmachineinstances/unpause', 'virtualmachines/restart'],
        verbs: ['update'],
      },
      { apiGroups: ['subresources.kubevirt.io'], resources: ['virtualmachineinstances/console', 'virtualmachineinstances/vnc'], verbs: ['get'] },
    ]);
  });

  it('alerts on error rate, p99 latency, pod restarts, waiting DB connections and backup age, using metrics the API exports', () => {
    const rule = find(objs(), 'PrometheusRule', 'kubekloud-api');
    const rules = rule.spec.groups.flatMap((g: any) => g.rules);
    const byName = Object.fromEntries(rules.map((r: any) => [r.alert, r.expr as string]));
    expect(byName.KubeKloudHighErrorRate).toContain('status_code=~"5.."');
    expect(byName.KubeKloudHighLatencyP99).toContain('histogram_quantile(0.99');
    expect(byName.KubeKloudPodRestarting).toContain('kube_pod_container_status_restarts_total');
    expect(byName.KubeKloudDbConnectionsWaiting).toContain('state="waiting"');
    expect(byName.KubeKloudBackupTooOld).toContain('kube_cronjob_status_last_successful_time');
    const metricsSource = readFileSync(join(repoRoot, 'src/observability/metrics.ts'), 'utf8');
    const used = new Set<string>(rules.flatMap((r: any) => (r.expr as string).match(/kubekloud_[a-z_]+/g) ?? []));
    for (const m of used) {
      const base = m.replace(/_(bucket|count|sum)$/, '');
      expect(metricsSource, `metric ${m}`).toContain(`'${base}'`);
    }
    const sm = find(objs(), 'ServiceMonitor', 'kubekloud-api');
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
    // The dev overlay (applied to clusters without the Prometheus Operator) has neither.
    expect(objs('overlays/dev').some((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).toBe(false);
  });
});

describe('secrets', () => {
  const listFiles = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? listFiles(p) : [p];
    });

  it('commits no secret values: only *.example inputs with placeholders, and the real inputs are ignored by git', () => {
    const tracked = run('git', ['ls-files', 'k8s']).stdout.trim().split('\n');
    const secretInputs = tracked.filter((f) => f.startsWith('k8s/base/secrets/') && !f.endsWith('README.md'));
    expect(secretInputs.sort()).toEqual(['k8s/base/secrets/api.env.example', 'k8s/base/secrets/postgres.env.example']);
    for (const f of secretInputs) {
      for (const line of readFileSync(join(repoRoot, f), 'utf8').split('\n').filter(Boolean)) {
        const [key, value = ''] = line.split(/=(.*)/s);
        if (/PASSWORD|TOKEN/.test(key!)) expect(value, line).toBe('CHANGE_ME');
        if (key === 'DATABASE_URL') expect(new URL(value).password, line).toBe('CHANGE_ME');
      }
    }
    for (const f of ['api.env', 'postgres.env']) {
      const r = run('git', ['check-ignore', '-q', `k8s/base/secrets/${f}`]);
      expect(r.code, `k8s/base/secrets/${f} must be ignored by git`).toBe(0);
    }
    // The placeholders cannot start the API: its token must be >= 16 characters.
    expect('CHANGE_ME'.length).toBeLessThan(16);
  });

  it('has no Secret object, stringData, password or token literal in any manifest', () => {
    const manifests = listFiles(k8sDir).filter((f) => /\.ya?ml$/.test(f));
    expect(manifests.length).toBeGreaterThan(10);
    for (const f of manifests) {
      const text = readFileSync(f, 'utf8');
      const where = relative(repoRoot, f);
      expect(text, where).not.toMatch(/^kind:\s*Secret\s*$/m);
      expect(text, where).not.toMatch(/^\s*(stringData|data):\s*$\n\s+\S*(PASSWORD|TOKEN|password|token)\S*:/m);
      expect(text, where).not.toMatch(/(harborAdminPassword|secretKey|password):\s*["']?[^"'\s{]/);
      expect(text, where).not.toMatch(/Harbor12345|changeit|not-a-secure-key/);
    }
    // The rendered Secrets come only from the generated inputs.
    const secrets = rendered['overlays/prod']?.filter((o) => o.kind === 'Secret') ?? render(staged, 'overlays/prod').objects.filter((o) => o.kind === 'Secret');
    expect(secrets.map((s) => s.metadata.name.replace(/-[a-z0-9]{10}$/, '')).sort()).toEqual(['kubekloud-api-secrets', 'postgres-credentials']);
  });
});
