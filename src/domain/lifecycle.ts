// The instance state machine. Operations are judged against what the instance
// was last asked to be (its desired state), so "stop" followed at once by
// "start" is accepted and the instance converges to the latest request.

export const OPERATIONS = ['start', 'stop', 'suspend', 'resume', 'restart'] as const;
export type Operation = (typeof OPERATIONS)[number];

export type Desired = 'running' | 'stopped' | 'suspended' | 'deleted';
export const INSTANCE_STATUSES = ['pending', 'provisioning', 'starting', 'running', 'stopping', 'stopped', 'suspended', 'failed', 'repairing', 'deleting'] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];
export type InstanceKind = 'vm' | 'container';

const TRANSITIONS: Record<Operation, { from: Desired; to: Desired }> = {
  start: { from: 'stopped', to: 'running' },
  stop: { from: 'running', to: 'stopped' },
  suspend: { from: 'running', to: 'suspended' },
  resume: { from: 'suspended', to: 'running' },
  restart: { from: 'running', to: 'running' },
};

export type TransitionResult = { ok: true; desired: Desired } | { ok: false; reason: string };

/** Whether `operation` may be applied to an instance whose desired state is `desired`. */
export function planTransition(operation: Operation, desired: Desired, status: InstanceStatus): TransitionResult {
  if (desired === 'deleted') {
    return { ok: false, reason: `Cannot ${operation} instance: it is being deleted` };
  }
  const rule = TRANSITIONS[operation];
  if (rule.from !== desired) {
    return {
      ok: false,
      reason: `Cannot ${operation} instance in status '${status}': ${operation} is allowed only from '${rule.from}'`,
    };
  }
  return { ok: true, desired: rule.to };
}

/** What Kubernetes last told us about the object behind an instance. */
export type Observed = {
  /** A pod (container) or a VirtualMachine status (vm) has been seen. */
  present: boolean;
  phase: string | null; // pod phase
  ready: boolean;
  vmStatus: string | null; // VirtualMachine status.printableStatus
  /** The VM's VirtualMachineInstance has condition Paused=True (VMs only). */
  paused?: boolean;
  /** The restart generation of the VM's running VirtualMachineInstance (VMs only; null: none seen). */
  vmiRestart?: number | null;
  /** The phase of the VM's root disk import (CDI DataVolume status.phase); null: no root disk, or none seen yet. */
  diskPhase?: string | null;
};

export type StatusInputs = {
  kind: InstanceKind;
  desired: Desired;
  /** The reconciler has applied the desired state at least once. */
  applied: boolean;
  observed: Observed;
  /** A provisioning failure the reconciler could not get past (Kubernetes reason). */
  failure: string | null;
  /** What was changed behind KubeKloud's back and is being put back (null: nothing). */
  drift?: string | null;
  /** The instance's restart generation (each restart and each rolled change raises it). */
  restartCount?: number;
};

const VM_FAILED = new Set([
  'CrashLoopBackOff',
  'ErrorUnschedulable',
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrorPvcNotFound',
  'DataVolumeError',
  'Unknown',
]);

/**
 * The status a user sees: a pure function of desired state and observations.
 * While a drift is being repaired, an instance that is not where it should be
 * says so ('repairing', not 'starting'); one that still is keeps its status.
 */
export function deriveStatus(s: StatusInputs): InstanceStatus {
  if (s.desired === 'deleted') return 'deleting';
  if (s.failure) return 'failed';
  const status = s.kind === 'container' ? containerStatus(s) : vmStatus(s);
  return s.drift && status !== s.desired ? 'repairing' : status;
}

function containerStatus({ desired, applied, observed }: StatusInputs): InstanceStatus {
  if (desired === 'running') {
    if (observed.present && observed.phase === 'Failed') return 'failed';
    if (observed.present && observed.phase === 'Running' && observed.ready) return 'running';
    return applied ? 'starting' : 'pending';
  }
  // stopped or suspended: the pod must be gone.
  if (observed.present) return 'stopping';
  return desired === 'suspended' ? 'suspended' : 'stopped';
}

// A suspended VM keeps running, paused (KubeVirt's pause: the guest frozen,
// its memory kept): 'suspended' comes from its VMI's Paused condition, whatever
// it was asked to be; until then it is as running as it is.
function vmStatus({ desired, applied, observed, restartCount }: StatusInputs): InstanceStatus {
  const printable = observed.vmStatus;
  if (desired === 'running' || desired === 'suspended') {
    if ((printable && VM_FAILED.has(printable)) || observed.diskPhase === 'Failed') return 'failed';
    // The root disk is being imported: KubeVirt holds the VM until it is ready.
    if (printable === 'Provisioning' || (observed.diskPhase && observed.diskPhase !== 'Succeeded')) return 'provisioning';
    if ((printable === 'Running' || printable === 'Paused') && observed.paused) return 'suspended';
    // Running on a VMI made for its current restart generation: a restarted or
    // rolled VM is not running again while its old VMI still is. A VM never
    // restarted may run on a VMI that carries no generation (one adopted from
    // another service, made before KubeKloud rendered its template).
    const current = !restartCount || (observed.vmiRestart !== undefined && observed.vmiRestart !== null && observed.vmiRestart >= restartCount);
    if (printable === 'Running' && observed.ready && current) return 'running';
    return applied ? 'starting' : 'pending';
  }
  if (printable === null || printable === 'Stopped') return 'stopped';
  return 'stopping';
}

/** Whether Kubernetes should run a container's workload for this desired state (suspended containers are stopped). */
export function shouldRun(desired: Desired): boolean {
  return desired === 'running';
}

/** Whether a VM runs for this desired state: a suspended VM runs, paused. */
export function vmShouldRun(desired: Desired): boolean {
  return desired === 'running' || desired === 'suspended';
}

/**
 * What a VM's pause should become, given what its VMI shows: 'pause' for a
 * running, unpaused VMI of a VM asked to be suspended; 'unpause' for a paused
 * VMI of one asked to run; null when it is right (or there is no running VMI to act on).
 */
export function pauseAction(desired: Desired, vmi: { running: boolean; paused: boolean } | null): 'pause' | 'unpause' | null {
  if (!vmi?.running) return null;
  if (desired === 'suspended' && !vmi.paused) return 'pause';
  if (desired === 'running' && vmi.paused) return 'unpause';
  return null;
}
