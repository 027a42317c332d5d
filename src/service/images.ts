// Use cases of the image catalogue: admins create, update and retire entries;
// every authenticated caller lists and reads them; a cluster's `image` is
// resolved against it when the cluster is created.
import type { Config } from '../config/config.ts';
import { conflict, invalid, notFound, type FieldProblem } from '../domain/errors.ts';
import { imageSourceProblem, notInCatalogueMessage, resolveCatalogueImage } from '../domain/images.ts';
import type { InstanceKind } from '../domain/lifecycle.ts';
import { coresToMilli, gibToMib, isWholeMultiple, milliToCores, mibToGib } from '../domain/units.ts';
import type { Queryable } from '../store/db.ts';
import { isUniqueViolation } from '../store/errors.ts';
import * as images from '../store/images.ts';
import type { Services } from './context.ts';
import { imageView } from './views.ts';

export type CreateImageInput = {
  name: string;
  kind: InstanceKind;
  source: string;
  default_disk_gb?: number;
  min_cpu?: number;
  min_memory?: number;
  os?: string;
};
export type PatchImageInput = {
  source?: string;
  default_disk_gb?: number | null;
  min_cpu?: number;
  min_memory?: number;
  os?: string | null;
  retired?: boolean;
};

const problem = (field: string, msg: string): FieldProblem => ({ loc: ['body', field], msg, type: 'value_error' });

function minimumProblems(input: { min_cpu?: number; min_memory?: number }): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (input.min_cpu !== undefined && !isWholeMultiple(input.min_cpu, 1000)) problems.push(problem('min_cpu', 'must be a multiple of 0.001 cores'));
  if (input.min_memory !== undefined && !isWholeMultiple(input.min_memory, 1024)) problems.push(problem('min_memory', 'must be a whole number of MiB (a multiple of 1/1024 GB)'));
  return problems;
}

const imageNotFound = (name: string) => notFound(`Image '${name}'`);

export async function createImage(s: Services, input: CreateImageInput) {
  const problems = minimumProblems(input);
  const sourceProblem = imageSourceProblem(input.kind, input.source);
  if (sourceProblem) problems.push(problem('source', sourceProblem));
  if (problems.length > 0) throw invalid(problems);
  const taken = () => conflict(`Image '${input.name}' already exists`);
  try {
    const row = await s.db.transaction(async (tx) => {
      if (await images.findImageByName(tx, input.name)) throw taken();
      return images.insertImage(tx, {
        name: input.name,
        kind: input.kind,
        source: input.source,
        default_disk_gb: input.default_disk_gb ?? null,
        min_cpu_milli: coresToMilli(input.min_cpu ?? 0),
        min_memory_mib: gibToMib(input.min_memory ?? 0),
        os: input.os ?? null,
      });
    });
    return imageView(row);
  } catch (err) {
    if (isUniqueViolation(err, 'images_name_key')) throw taken();
    throw err;
  }
}

export async function listImages(s: Services, query: { include_retired?: boolean }) {
  return (await images.listImages(s.db, { includeRetired: query.include_retired ?? false })).map(imageView);
}

export async function getImage(s: Services, name: string) {
  const row = await images.findImageByName(s.db, name);
  if (!row) throw imageNotFound(name);
  return imageView(row);
}

export async function updateImage(s: Services, name: string, input: PatchImageInput) {
  const row = await s.db.transaction(async (tx) => {
    const current = await images.findImageByName(tx, name, { lock: true });
    if (!current) throw imageNotFound(name);
    const problems = minimumProblems(input);
    const sourceProblem = input.source !== undefined ? imageSourceProblem(current.kind, input.source) : null;
    if (sourceProblem) problems.push(problem('source', sourceProblem));
    if (problems.length > 0) throw invalid(problems);
    return images.updateImage(tx, name, {
      source: input.source,
      default_disk_gb: input.default_disk_gb,
      min_cpu_milli: input.min_cpu !== undefined ? coresToMilli(input.min_cpu) : undefined,
      min_memory_mib: input.min_memory !== undefined ? gibToMib(input.min_memory) : undefined,
      os: input.os,
      retired: input.retired,
    });
  });
  return imageView(row!);
}

export async function retireImage(s: Services, name: string) {
  return updateImage(s, name, { retired: true });
}

/**
 * What a new cluster's workload runs, decided inside its create transaction:
 * a catalogue entry's source (checked for kind, retirement and minimums), else
 * the free-form image where the installation allows one, else a 422 naming the
 * catalogue. No image: the installation's default for the kind.
 */
export async function resolveClusterImage(
  tx: Queryable,
  config: Config,
  req: { kind: InstanceKind; image?: string; cpuMilli: number; memoryMib: number },
): Promise<{ image: string; source: string; defaultDiskGb: number | null }> {
  if (req.image === undefined) {
    const image = req.kind === 'vm' ? config.defaultVmImage : config.defaultContainerImage;
    return { image, source: image, defaultDiskGb: null };
  }
  const entry = await images.findImageByName(tx, req.image);
  if (entry) {
    const out = resolveCatalogueImage(
      {
        name: entry.name,
        kind: entry.kind,
        source: entry.source,
        minCpuMilli: entry.min_cpu_milli,
        minMemoryMib: entry.min_memory_mib,
        retired: entry.retired_at !== null,
      },
      { kind: req.kind, image: req.image, cpuMilli: req.cpuMilli, memoryMib: req.memoryMib },
      { cores: milliToCores, gb: mibToGib },
    );
    if ('problems' in out) throw invalid(out.problems.map((p) => problem(p.field, p.msg)));
    return { image: entry.name, source: out.source, defaultDiskGb: entry.default_disk_gb };
  }
  if (config.allowFreeformImages) return { image: req.image, source: req.image, defaultDiskGb: null };
  throw invalid([problem('image', notInCatalogueMessage(req.image, req.kind, await images.activeImageNames(tx, req.kind)))]);
}
