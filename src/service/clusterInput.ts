// Checks on a cluster request that the schema cannot express: units, bounds
// from configuration, and combinations of fields.
import type { Config } from '../config/config.ts';
import { invalid, type FieldProblem } from '../domain/errors.ts';
import type { Expose, PortSpec, ServiceType } from '../domain/model.ts';
import { clusterNameProblem } from '../domain/naming.ts';
import { coresToMilli, gibToMib, isWholeMultiple } from '../domain/units.ts';

export type CreateClusterInput = {
  name: string;
  instance_type: 'vm' | 'container';
  cpu_per_instance: number;
  memory_per_instance: number;
  instance_count: number;
  image?: string;
  ports?: (Omit<PortSpec, 'protocol'> & { protocol?: PortSpec['protocol'] })[];
  service_type?: ServiceType;
  expose?: Expose;
  volume_size?: number;
  disk_size?: number;
  env?: Record<string, string>;
  ssh_keys?: string[];
  user_data?: string;
  expires_at?: string;
  expire_action?: 'stop' | 'delete';
};

const field = (name: string, msg: string, type = 'value_error'): FieldProblem => ({ loc: ['body', name], msg, type });

export function checkClusterInput(config: Config, input: CreateClusterInput): void {
  const problems: FieldProblem[] = [];
  const nameProblem = clusterNameProblem(input.name);
  if (nameProblem) problems.push(field('name', nameProblem));
  if (!isWholeMultiple(input.cpu_per_instance, 1000)) {
    problems.push(field('cpu_per_instance', 'must be a multiple of 0.001 cores'));
  } else if (coresToMilli(input.cpu_per_instance) < 1) {
    problems.push(field('cpu_per_instance', 'must be at least 0.001 cores'));
  }
  if (input.cpu_per_instance > config.maxCpuPerInstance) {
    problems.push(field('cpu_per_instance', `must be at most ${config.maxCpuPerInstance} cores (what one node can hold)`));
  }
  if (!isWholeMultiple(input.memory_per_instance, 1024)) {
    problems.push(field('memory_per_instance', 'must be a whole number of MiB (a multiple of 1/1024 GB)'));
  } else if (gibToMib(input.memory_per_instance) < 1) {
    problems.push(field('memory_per_instance', 'must be at least 1 MiB (1/1024 GB)'));
  }
  if (input.memory_per_instance > config.maxMemoryPerInstance) {
    problems.push(field('memory_per_instance', `must be at most ${config.maxMemoryPerInstance} GB (what one node can hold)`));
  }
  if (input.instance_count > config.maxInstancesPerCluster) {
    problems.push(field('instance_count', `must be at most ${config.maxInstancesPerCluster}`));
  }
  if (input.service_type === 'NodePort' && !config.allowNodePort) {
    problems.push(field('service_type', 'NodePort services are not allowed on this installation; use ClusterIP or LoadBalancer'));
  }
  if (input.service_type && input.service_type !== 'ClusterIP' && !(input.ports?.length)) {
    problems.push(field('service_type', 'needs at least one entry in ports'));
  }
  if (input.expose === 'cluster' && !(input.ports?.length)) {
    problems.push(field('expose', 'cluster needs at least one entry in ports (the cluster Service exposes them)'));
  }
  const ports = input.ports ?? [];
  if (new Set(ports.map((p) => `${p.port}/${p.protocol ?? 'TCP'}`)).size !== ports.length) {
    problems.push(field('ports', 'must not list the same port and protocol twice'));
  }
  if (input.instance_type === 'container') {
    if (input.disk_size !== undefined) problems.push(field('disk_size', 'applies to vm clusters only (a container keeps its data on volume_size)'));
    if (input.ssh_keys?.length) problems.push(field('ssh_keys', 'applies to vm clusters only'));
    if (input.user_data !== undefined) problems.push(field('user_data', 'applies to vm clusters only'));
  } else {
    if (input.env && Object.keys(input.env).length > 0) problems.push(field('env', 'applies to container clusters only'));
    if (input.ssh_keys?.length && input.user_data !== undefined && !input.user_data.startsWith('#cloud-config')) {
      problems.push(field('user_data', 'must be a #cloud-config document when ssh_keys are given (the keys are added to it)'));
    }
    if (input.ssh_keys?.length && input.user_data?.includes('ssh_authorized_keys')) {
      problems.push(field('ssh_keys', 'give keys either in ssh_keys or in user_data, not both'));
    }
  }
  if (problems.length > 0) throw invalid(problems);
}
