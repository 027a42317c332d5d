// What an audited request did, as `<resource>.<verb>`: the last resource its
// route names and the verb its method means (clusters.create,
// clusters.update, instances.operate, snapshots.restore, tokens.delete,
// console.open). Migration 020 derives the same for older rows.

const VERB_SEGMENTS = new Set(['operate', 'restore']);
/** SCHEDULE: the scheduler's runs of a schedule or an expiry (schedules.run, expiry.run). */
const METHOD_VERBS: Record<string, string> = { POST: 'create', DELETE: 'delete', GET: 'open', PATCH: 'update', PUT: 'update', SCHEDULE: 'run' };

export function auditAction(method: string, route: string): string {
  const segments = route
    .replace(/^\/api\/v1\/?/, '')
    .split('/')
    .filter((s) => s !== '' && s !== 'me' && !s.startsWith(':'));
  const last = segments.at(-1) ?? 'api';
  if (VERB_SEGMENTS.has(last)) return `${segments.at(-2) ?? 'api'}.${last}`;
  return `${last}.${METHOD_VERBS[method] ?? 'update'}`;
}

/** `clusters/5` → the route prefix and target an audit filter on a resource means. */
export const AUDIT_RESOURCE_PATTERN = /^(clusters|instances|users|images)(?:\/([A-Za-z0-9._-]{1,64}))?$/;

/** The audit entries of a request on `kind` (and `target`, if given): what `resource` filters. */
export function auditResourceOf(resource: string): { routePrefix: string; target: string | null } | null {
  const m = AUDIT_RESOURCE_PATTERN.exec(resource);
  if (!m) return null;
  return { routePrefix: `/api/v1/${m[1]}`, target: m[2] ?? null };
}
