// Reading what Kubernetes reports about an instance: a pod's phase, readiness
// and address, a VirtualMachine's printable status, a VMI's address. Pure, and
// careful: everything here comes from objects others can write, so it is
// checked and capped before it is stored or shown.
import type { LiveObject } from './drift.ts';
import { ANNOTATION_RESTART, LABEL_INSTANCE } from './render.ts';
import { capMessage } from './untrusted.ts';

/** What the watches last saw of an instance's pod (containers) or VirtualMachine (VMs), as stored on its row. */
export type Observation = {
  present: boolean;
  phase?: string | null;
  ready: boolean;
  vmStatus?: string | null;
  ip?: string | null;
  node?: string | null;
  message?: string | null;
  conditions?: unknown[];
  /** The restart generation the pod was made for; an older pod is on its way out and never counts as ready. */
  restartCount?: number;
};


// Waiting reasons that will not clear by themselves: the instance shows failed.
const STUCK_REASONS = new Set(['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError']);

type Condition = { type?: string; status?: string; reason?: string; message?: string; lastTransitionTime?: string };

export const instanceIdOf = (obj: LiveObject): number | null => {
  const raw = obj.metadata?.labels?.[LABEL_INSTANCE];
  const n = Number(raw);
  return raw && Number.isSafeInteger(n) && n > 0 ? n : null;
};

const cleanConditions = (conds: unknown): Condition[] =>
  (Array.isArray(conds) ? (conds as Condition[]) : []).slice(0, 10).map((c) => ({
    type: capMessage(String(c.type ?? '')).slice(0, 64),
    status: capMessage(String(c.status ?? '')).slice(0, 16),
    reason: c.reason ? capMessage(String(c.reason)).slice(0, 128) : undefined,
    message: c.message ? capMessage(String(c.message)) : undefined,
    lastTransitionTime: c.lastTransitionTime ? String(c.lastTransitionTime).slice(0, 40) : undefined,
  }));

export function observePod(pod: LiveObject): Observation {
  const status = (pod.status ?? {}) as {
    phase?: string;
    podIP?: string;
    conditions?: Condition[];
    containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[];
  };
  const conditions = cleanConditions(status.conditions);
  const ready = conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  const waiting = (status.containerStatuses ?? []).map((c) => c.state?.waiting).find((w) => w?.reason);
  const unscheduled = conditions.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  let phase = typeof status.phase === 'string' ? status.phase.slice(0, 32) : null;
  let message: string | null = null;
  if (waiting?.reason) {
    message = capMessage(`${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
    if (STUCK_REASONS.has(waiting.reason)) phase = 'Failed';
  } else if (unscheduled) {
    message = capMessage(`${unscheduled.reason ?? 'Unschedulable'}: ${unscheduled.message ?? ''}`);
  }
  const ip = typeof status.podIP === 'string' && /^[0-9a-fA-F.:]{2,45}$/.test(status.podIP) ? status.podIP : null;
  const nodeName = (pod.spec as { nodeName?: unknown } | undefined)?.nodeName;
  const node = typeof nodeName === 'string' ? nodeName.slice(0, 253) : null;
  const restartAnnotation = Number(pod.metadata?.annotations?.[ANNOTATION_RESTART]);
  const restartCount = Number.isSafeInteger(restartAnnotation) ? restartAnnotation : undefined;
  return { present: true, phase, ready, ip, node, message: message ?? '', conditions, restartCount };
}

const IP = /^[0-9a-fA-F.:]{2,45}$/;

/** The address and node of a running VM, from its VirtualMachineInstance. */
export function vmiAddress(vmi: LiveObject): { ip: string | null; node: string | null } {
  const status = (vmi.status ?? {}) as { nodeName?: unknown; interfaces?: { ipAddress?: unknown }[] };
  const ip = status.interfaces?.map((i) => i.ipAddress).find((a): a is string => typeof a === 'string' && IP.test(a)) ?? null;
  const node = typeof status.nodeName === 'string' ? status.nodeName.slice(0, 253) : null;
  return { ip, node };
}

/** The restart generation a VMI was made for (its template's annotation), or null. */
export function vmiRestartCount(vmi: LiveObject): number | null {
  const raw = vmi.metadata?.annotations?.[ANNOTATION_RESTART];
  const n = Number(raw);
  return raw !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Whether a VMI is running and whether it is paused (condition Paused=True, set by KubeVirt's pause). */
export function vmiPauseState(vmi: LiveObject): { running: boolean; paused: boolean } {
  const status = (vmi.status ?? {}) as { phase?: unknown; conditions?: unknown };
  const paused = cleanConditions(status.conditions).some((c) => c.type === 'Paused' && c.status === 'True');
  return { running: status.phase === 'Running', paused };
}

export function observeVm(vm: LiveObject): Observation {
  const status = (vm.status ?? {}) as { printableStatus?: unknown; ready?: unknown; conditions?: unknown };
  const conditions = cleanConditions(status.conditions);
  const failing = conditions.find((c) => c.status === 'False' && c.message);
  const printable = typeof status.printableStatus === 'string' ? status.printableStatus.slice(0, 64) : null;
  return {
    present: printable !== null,
    vmStatus: printable,
    ready: status.ready === true,
    message: failing?.message ?? '',
    conditions,
  };
}

/** A VM's root disk import, as CDI reports it on the DataVolume. */
export type DiskObservation = { phase: string | null; progress: number | null; message: string | null };

/** No root disk seen (none rendered, or its DataVolume is gone). */
export const NO_DISK: DiskObservation = { phase: null, progress: null, message: null };

/** The phase, progress (CDI writes "40.00%") and, when failed, the reason of a DataVolume. */
export function observeDataVolume(dv: LiveObject): DiskObservation {
  const status = (dv.status ?? {}) as { phase?: unknown; progress?: unknown; conditions?: unknown };
  const phase = typeof status.phase === 'string' && /^[A-Za-z]{1,40}$/.test(status.phase) ? status.phase : null;
  const m = typeof status.progress === 'string' ? /^(\d{1,3}(?:\.\d+)?)\s*%$/.exec(status.progress.trim()) : null;
  const progress = m ? Math.min(100, Number(m[1])) : phase === 'Succeeded' ? 100 : null;
  let message: string | null = null;
  if (phase === 'Failed') {
    const failing = cleanConditions(status.conditions).find((c) => c.status === 'False' && c.message) ?? cleanConditions(status.conditions).find((c) => c.message);
    message = capMessage(`root disk import failed${failing?.reason ? ` (${failing.reason})` : ''}: ${failing?.message ?? 'no reason given'}`);
  }
  return { phase, progress, message };
}

/**
 * The instance a VM's root disk DataVolume belongs to (its template's labels),
 * or null for any other DataVolume: KubeKloud names it `<instance>-root`, a
 * restore from a snapshot `restore-<uid>-rootdisk` (after the VM's volume).
 */
export const rootDiskInstanceId = (dv: LiveObject): number | null =>
  /(-root|^restore-[0-9a-f-]+-rootdisk)$/.test(dv.metadata?.name ?? '') ? instanceIdOf(dv) : null;

/** What an instance whose pod or VM no longer exists is observed as. */
export const ABSENT: Observation = { present: false, phase: null, ready: false, vmStatus: null, ip: null, node: null };
