// A kubeconfig file that acts as another identity through impersonation (the
// kubeconfig `as:` field), so a process started with KUBECONFIG pointing at
// it -- the API server in an end-to-end test, or kubectl -- runs with exactly
// that identity's permissions, e.g. the API's ServiceAccount:
//   writeImpersonatingKubeconfig(path, serviceAccountUser('kubekloud-api', 'kubekloud-api-sa'))
import { readFileSync, writeFileSync } from 'node:fs';
// js-yaml ships with @kubernetes/client-node, which reads kubeconfigs with it.
import { load } from 'js-yaml';
import { testKubeconfigPath } from './kube.ts';

/**
 * Write to `path` a copy of the admin kubeconfig (`source`, default the local
 * control plane's) whose current context uses a user that impersonates
 * `user` (and `groups`, when given). For a ServiceAccount user the API server
 * adds the ServiceAccount's groups by itself. Returns `path`.
 */
export function writeImpersonatingKubeconfig(path: string, user: string, groups: string[] = [], source = testKubeconfigPath): string {
  const doc = load(readFileSync(source, 'utf8')) as KubeconfigDoc;
  const contextEntry = doc.contexts?.find((c) => c.name === doc['current-context']);
  if (!contextEntry) throw new Error(`${source} has no current context`);
  const baseUser = doc.users?.find((u) => u.name === contextEntry.context.user);
  if (!baseUser) throw new Error(`${source} has no user ${contextEntry.context.user}`);
  const name = `${baseUser.name}-as-${user.replace(/[^A-Za-z0-9.-]/g, '-')}`;
  const impersonated = { name, user: { ...baseUser.user, as: user, ...(groups.length > 0 ? { 'as-groups': groups } : {}) } };
  doc.users = [...(doc.users ?? []).filter((u) => u.name !== name), impersonated];
  contextEntry.context.user = name;
  // JSON is YAML: kubectl and @kubernetes/client-node both read it.
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  return path;
}

type KubeconfigDoc = {
  'current-context'?: string;
  contexts?: { name: string; context: { user: string; [k: string]: unknown } }[];
  users?: { name: string; user: Record<string, unknown> }[];
  [k: string]: unknown;
};
