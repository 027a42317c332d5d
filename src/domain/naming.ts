// Names users choose and names we derive for Kubernetes objects.

export const CLUSTER_NAME_MAX = 40;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why `name` is not a valid cluster name, or null when it is. */
export function clusterNameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > CLUSTER_NAME_MAX) return `must be at most ${CLUSTER_NAME_MAX} characters`;
  if (!DNS1123_LABEL.test(name)) {
    return 'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit';
  }
  return null;
}

/**
 * The namespace of a cluster. The cluster id makes it unique across tenants and
 * across time (a deleted cluster's namespace may still be terminating when a
 * new cluster of the same name is created); the prefix tells installations
 * sharing one Kubernetes apart. At most 8 + 1 + 10 + 1 + 40 = 60 chars.
 */
export function clusterNamespace(prefix: string, clusterId: number, clusterName: string): string {
  return `${prefix}-${clusterId}-${clusterName}`;
}

export const NAMESPACE_PREFIX_PATTERN = /^[a-z]([-a-z0-9]{0,6}[a-z0-9])?$/;

/** Instance names are `<cluster>-<ordinal>`, ordinals counting from 1. */
export function instanceName(clusterName: string, ordinal: number): string {
  return `${clusterName}-${ordinal}`;
}
