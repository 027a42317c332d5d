// The image catalogue's rules: what a source may be for each kind, how a
// cluster's `image` resolves against the catalogue, and what the workload runs.
import type { InstanceKind } from './lifecycle.ts';

/** A catalogue name: also a valid image reference, so `image` carries either. */
export const IMAGE_NAME_PATTERN = '^[a-z0-9]+([._-][a-z0-9]+)*$';
/** A container image reference (registry/repo:tag or @digest), never a URL. */
export const IMAGE_REFERENCE_PATTERN =
  '^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$';
const REFERENCE = new RegExp(IMAGE_REFERENCE_PATTERN);
export const DOCKER_SCHEME = 'docker://';

/** Why `source` cannot be an image of this kind, or null. */
export function imageSourceProblem(kind: InstanceKind, source: string): string | null {
  if (source.length > 2048) return 'must be at most 2048 characters';
  if (kind === 'container') {
    if (REFERENCE.test(source)) return null;
    return 'must be a container image reference such as registry.example/team/app:1.4 (no scheme, lower-case repository)';
  }
  if (source.startsWith(DOCKER_SCHEME)) {
    return REFERENCE.test(source.slice(DOCKER_SCHEME.length)) ? null : 'docker:// must be followed by an image reference such as quay.io/containerdisks/ubuntu:24.04';
  }
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    return 'must be a registry image (docker://registry/repo:tag) or an http(s):// URL of a disk image';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `scheme ${url.protocol.slice(0, -1)} is not allowed: use docker:// or http(s)://`;
  if (!url.hostname) return 'the URL needs a host';
  if (url.username || url.password) return 'must not carry credentials (user:password@)';
  if (url.pathname === '/' || url.pathname === '') return 'the URL must name a disk image file';
  return null;
}

/** Whether a VM can boot this source as a containerDisk (a registry image), rather than needing an imported root disk. */
export const bootsAsContainerDisk = (source: string) => !/^https?:\/\//.test(source);

/**
 * A VM's root disk size: the one asked for, else the catalogue entry's default
 * size. A disk image from a URL cannot boot as a containerDisk, so it needs one;
 * null boots a registry image as a containerDisk (nothing written is kept).
 */
export function rootDiskSize(req: { diskSizeGb?: number | null }, image: { source: string; defaultDiskGb: number | null; name: string }): { gb: number | null } | { problem: string } {
  const gb = req.diskSizeGb ?? image.defaultDiskGb;
  if (gb === null && !bootsAsContainerDisk(image.source)) {
    return { problem: `image '${image.name}' is a disk image from a URL: give disk_size (GB) for the root disk it is imported into` };
  }
  return { gb };
}

/**
 * Where a VM's root disk is imported from (CDI DataVolume spec.source): an
 * HTTP(S) disk image, or a registry image (a containerDisk image) as docker://.
 */
export function dataVolumeSource(source: string): { http: { url: string } } | { registry: { url: string } } {
  if (/^https?:\/\//.test(source)) return { http: { url: source } };
  return { registry: { url: source.startsWith(DOCKER_SCHEME) ? source : `${DOCKER_SCHEME}${source}` } };
}

/** What the workload's image field gets for a stored source: a docker:// VM source without its scheme, anything else as it is. */
export function workloadImage(source: string): string {
  return source.startsWith(DOCKER_SCHEME) ? source.slice(DOCKER_SCHEME.length) : source;
}

export type CatalogueEntry = { name: string; kind: InstanceKind; source: string; minCpuMilli: number; minMemoryMib: number; retired: boolean };
export type ImageRequest = { kind: InstanceKind; image: string; cpuMilli: number; memoryMib: number; /** VMs: the root disk asked for (GB), if any. */ diskSizeGb?: number | null };
export type ImageProblem = { field: 'image' | 'cpu_per_instance' | 'memory_per_instance'; msg: string };

/**
 * A cluster naming a catalogue entry: the source it will run, or every reason
 * it may not (wrong kind, retired, below a minimum, a disk image a VM cannot boot yet).
 */
export function resolveCatalogueImage(entry: CatalogueEntry, req: ImageRequest, fmt: { cores: (m: number) => number; gb: (m: number) => number }): { source: string } | { problems: ImageProblem[] } {
  const problems: ImageProblem[] = [];
  if (entry.kind !== req.kind) problems.push({ field: 'image', msg: `image '${entry.name}' is a ${entry.kind} image; this is a ${req.kind} cluster` });
  if (entry.retired) problems.push({ field: 'image', msg: `image '${entry.name}' is retired; new clusters cannot use it (GET /api/v1/images lists the current ones)` });
  if (req.cpuMilli < entry.minCpuMilli) {
    problems.push({ field: 'cpu_per_instance', msg: `must be at least ${fmt.cores(entry.minCpuMilli)} cores, the minimum of image '${entry.name}'` });
  }
  if (req.memoryMib < entry.minMemoryMib) {
    problems.push({ field: 'memory_per_instance', msg: `must be at least ${fmt.gb(entry.minMemoryMib)} GB, the minimum of image '${entry.name}'` });
  }
  return problems.length > 0 ? { problems } : { source: entry.source };
}

export function notInCatalogueMessage(image: string, kind: InstanceKind, names: string[]): string {
  const offered = names.length > 0 ? `: ${names.map((n) => `'${n}'`).join(', ')}` : ' (it has none yet)';
  return `image '${image}' is not in the image catalogue, and free-form images are not allowed on this installation; name a ${kind} image of the catalogue${offered}`;
}
