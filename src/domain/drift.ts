// Drift: how a live Kubernetes object differs from the form KubeKloud renders
// for it. Pure, so the observer (which decides whether to repair) and the tests
// (which decide whether a repair worked) judge with the same rules.
//
// The rules follow server-side apply. Every field KubeKloud renders must be
// there with the rendered value; lists must have exactly the rendered elements
// (an extra container, env var, port or policy rule is drift); fields the API
// server fills in itself (defaults, allocated IPs, node ports) are not drift.
// A field no one renders but someone else set (say `privileged: true` next to
// our securityContext) cannot be seen by comparing values, so the second rule
// reads the object's managedFields: any field under `spec` owned by another
// manager is drift, whatever its value.

import type { KubeObject } from './render.ts';

export type ManagedFieldsEntry = {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  apiVersion?: string;
  time?: string;
};

export type LiveObject = {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: ManagedFieldsEntry[];
    resourceVersion?: string;
    deletionTimestamp?: string;
    ownerReferences?: { controller?: boolean }[];
  };
  [key: string]: unknown;
};

const QUANTITY = /^([+-]?\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const SCALE: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity as a number ("500m" → 0.5, "1Gi" → 1073741824), or null if it is not one. */
export function quantityValue(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return null;
  const m = QUANTITY.exec(v);
  return m ? Number(m[1]) * SCALE[m[2] ?? '']! : null;
}

// Where the API server keeps quantities (resources, quota figures, limit ranges,
// a VM's guest memory): only there are "1k" and "1000" the same value.
const QUANTITY_PATH = /(^|\.)(resources|hard|limits\[\d+\]|guest)(\.|$)/;

/** The API server stores quantities in canonical form ("0Gi" comes back "0", "1024Mi" as "1Gi"). */
function sameScalar(want: unknown, got: unknown, path: string): boolean {
  if (want === got) return true;
  if (typeof want === 'string' && typeof got === 'string' && QUANTITY_PATH.test(path)) {
    const a = quantityValue(want);
    const b = quantityValue(got);
    return a !== null && b !== null && Math.abs(a - b) <= Math.abs(a) * 1e-9;
  }
  return false;
}

/** Paths (dotted, with [i] for list items) where `live` lacks or changes what `want` renders. */
export function differences(want: unknown, live: unknown, path = ''): string[] {
  if (Array.isArray(want)) {
    if (!Array.isArray(live)) return [path || '.'];
    if (live.length !== want.length) return [`${path} (${live.length} items, rendered ${want.length})`];
    return want.flatMap((w, i) => differences(w, live[i], `${path}[${i}]`));
  }
  if (want !== null && typeof want === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return [path || '.'];
    const l = live as Record<string, unknown>;
    return Object.entries(want as Record<string, unknown>).flatMap(([k, w]) =>
      k in l ? differences(w, l[k], path ? `${path}.${k}` : k) : [path ? `${path}.${k}` : k],
    );
  }
  return sameScalar(want, live, path) ? [] : [path || '.'];
}

/** Kinds whose whole spec is KubeKloud's: another manager owning any field in it is drift. */
const SPEC_OWNED = new Set(['StatefulSet', 'VirtualMachine', 'Service', 'NetworkPolicy', 'ResourceQuota', 'LimitRange']);

/** Whether a managedFields entry belongs to a writer other than `manager` (status writers are the controllers' own). */
export function isForeignSpecEntry(e: ManagedFieldsEntry, manager: string): boolean {
  if (e.subresource === 'status') return false;
  if (e.manager === manager && e.operation === 'Apply') return false;
  return typeof e.fieldsV1 === 'object' && e.fieldsV1 !== null && 'f:spec' in e.fieldsV1;
}

/** Managers other than `manager` that own fields in the object's spec (for kinds whose spec is all ours). */
export function foreignSpecManagers(live: LiveObject, manager: string): string[] {
  if (!live.kind || !SPEC_OWNED.has(live.kind)) return [];
  const names = (live.metadata?.managedFields ?? []).filter((e) => isForeignSpecEntry(e, manager)).map((e) => e.manager ?? '(unnamed)');
  return [...new Set(names)];
}

/**
 * What is wrong with `live` against `want`, in words for an instance's message
 * and the logs; empty when the object is in its rendered form. Only labels and
 * annotations KubeKloud renders are compared: others' labels are theirs.
 */
export function driftOf(want: KubeObject, live: LiveObject, manager: string): string[] {
  const { metadata, apiVersion: _a, kind: _k, ...body } = want;
  const out: string[] = [];
  const meta = { labels: metadata.labels ?? {}, annotations: metadata.annotations ?? {} };
  const liveMeta = { labels: live.metadata?.labels ?? {}, annotations: live.metadata?.annotations ?? {} };
  out.push(...differences(meta, liveMeta, 'metadata'));
  out.push(...differences(body, live));
  const foreign = foreignSpecManagers(live, manager);
  if (foreign.length > 0) out.push(`spec fields set by ${foreign.join(', ')}`);
  return out;
}

/** Merges two managedFields field sets (fieldsV1 trees: keys "f:name", "k:{…}", "v:…", "."). */
export function mergeFieldSets(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      prev && typeof prev === 'object' && v && typeof v === 'object'
        ? mergeFieldSets(prev as Record<string, unknown>, v as Record<string, unknown>)
        : (v ?? prev);
  }
  return out;
}

/**
 * managedFields with every other writer's spec fields handed to `manager`'s
 * apply entry. Applying the rendered object afterwards removes the fields it
 * does not render (server-side apply drops fields their only owner stopped
 * applying); forcing the apply alone would only take back fields we render.
 * Returns null when no other writer owns spec fields.
 */
export function takeOverSpecFields(live: LiveObject, manager: string): ManagedFieldsEntry[] | null {
  if (!live.kind || !SPEC_OWNED.has(live.kind)) return null;
  const entries = live.metadata?.managedFields ?? [];
  const ours = entries.find((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource);
  if (!ours?.fieldsV1) return null;
  let taken: Record<string, unknown> = {};
  const kept: ManagedFieldsEntry[] = [];
  let changed = false;
  for (const e of entries) {
    if (e === ours) continue;
    if (!isForeignSpecEntry(e, manager)) {
      kept.push(e);
      continue;
    }
    changed = true;
    const { 'f:spec': spec, ...rest } = e.fieldsV1!;
    taken = mergeFieldSets(taken, { 'f:spec': spec });
    // The rest (labels or annotations it set) stays that writer's.
    if (Object.keys(rest).some((k) => k !== '.')) kept.push({ ...e, fieldsV1: rest });
  }
  if (!changed) return null;
  return [{ ...ours, fieldsV1: mergeFieldSets(ours.fieldsV1, taken) }, ...kept];
}
