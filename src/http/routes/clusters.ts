// /api/v1/clusters
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import * as clusters from '../../service/clusters.ts';
import * as disks from '../../service/disks.ts';
import * as schedules from '../../service/schedules.ts';
import { changeClusterSpec, rolloutConverged, splitPatch } from '../../service/rollouts.ts';
import type { Services } from '../../service/context.ts';
import { principalOf, type Authenticate } from '../auth.ts';
import { waitFor } from '../holds.ts';
import { servicesFor } from '../idempotency.ts';
import { isDryRun, schemaReasons } from '../dryRun.ts';
import { quoteCreateCluster, quoteScaleCluster, quoteSpecChange } from '../../service/quotes.ts';
import { protectedRoutes } from './protected.ts';
import {
  ClusterGetQuery,
  ClusterListQuery,
  ClusterWithInstances,
  CreateCluster,
  CreateQuery,
  CreatedCluster,
  errors,
  IdParams,
  KeptDiskList,
  KeptDiskParams,
  Message,
  MessageWithWait,
  PatchCluster,
  ScaledCluster,
  CreateSchedule,
  Schedule,
  ScheduleList,
  ScheduleParams,
  SetExpiry,
  WaitQuery,
} from '../../contract/schemas.ts';

export const clusterRoutes =
  (s: Services, authenticate: Authenticate): FastifyPluginAsync =>
  protectedRoutes(s, authenticate, (app) => {
    const tags = ['clusters'];

    app.post(
      '/',
      {
        schema: {
          tags,
          summary: 'Create a cluster',
          description:
            'Records the cluster and reserves quota at once; instances start pending and converge in the background. ' +
            'With ?dry_run=true: 200 with a quote — what it would reserve and leave of the quota, every reason it would be refused, the objects it would apply — and nothing changed.',
          body: CreateCluster,
          querystring: CreateQuery,
          response: { 200: Type.Ref('Quote'), 201: CreatedCluster, ...errors(400, 401, 403, 422, 429) },
        },
        attachValidation: true,
      },
      async (req, reply) => {
        const p = principalOf(req);
        const schemaProblems = schemaReasons(req);
        if (isDryRun(req)) return reply.code(200).send(await quoteCreateCluster(s, p, req.body, schemaProblems));
        const created = await clusters.createCluster(servicesFor(s, req), p, req.body);
        if (!req.query.wait) return reply.code(201).send(created);
        const wait = await waitFor(s, req, () => clusters.clusterConverged(s, created.id, 'running'), req.query.wait, created.id);
        return reply.code(201).send({ ...(await clusters.getCluster(s, p, created.id)), wait });
      },
    );
    app.get(
      '/',
      {
        schema: {
          tags,
          summary: "List the caller's clusters",
          description:
            'Every cluster without ?limit= (as the Python service answered; refused with 422 past 10000), a page with it. The total count is in the X-Total-Count header. A cluster being deleted is left out unless include_deleting=true.',
          querystring: ClusterListQuery,
          response: { 200: Type.Array(Type.Ref('Cluster')), ...errors(401, 422) },
        },
      },
      async (req, reply) => {
        const { items, total } = await clusters.listClusters(s, principalOf(req), { ...req.query, includeDeleting: req.query.include_deleting });
        reply.header('X-Total-Count', String(total));
        return items;
      },
    );
    app.get(
      '/:id',
      {
        schema: {
          tags,
          summary: 'A cluster with its instances',
          description: 'A cluster being deleted answers 404 (as in the Python service) unless include_deleting=true, which shows it with status deleting until its teardown is done.',
          params: IdParams,
          querystring: ClusterGetQuery,
          response: { 200: ClusterWithInstances, ...errors(401, 404, 422) },
        },
      },
      async (req) => clusters.getCluster(s, principalOf(req), req.params.id, { includeDeleting: req.query.include_deleting }),
    );
    app.patch(
      '/:id',
      {
        schema: {
          tags,
          summary: 'Scale a cluster, or change it live',
          description:
            'instance_count scales: scale-out reserves quota; scale-in removes the highest-numbered instances and releases theirs. ' +
            'The other fields change the running cluster: the quota difference is reserved at once (403, nothing changed, when it does not fit) ' +
            'and the change rolls one instance at a time, the next once the one before runs again; the cluster\'s rollout shows its progress. ' +
            'A field that cannot change live (name, instance_type, volume_size, expose), or one that does not apply to the kind, is refused with 422. ' +
            '?wait= answers once the roll is done (or failed). ' +
            'With ?dry_run=true a scale (instance_count, keep_disks) or a live change answers with a quote and changes nothing.',
          params: IdParams,
          querystring: CreateQuery,
          body: PatchCluster,
          response: { 200: Type.Union([ScaledCluster, Type.Ref('Quote')]), ...errors(400, 401, 403, 404, 422, 429) },
        },
      },
      async (req) => {
        const p = principalOf(req);
        const asked = splitPatch(req.body);
        if (req.query.dry_run) {
          if ('spec' in asked) return quoteSpecChange(s, p, req.params.id, asked.spec);
          return quoteScaleCluster(s, p, req.params.id, asked.scale, asked.keepDisks);
        }
        if ('spec' in asked) {
          const out = await changeClusterSpec(servicesFor(s, req), p, req.params.id, asked.spec);
          const detail = { spec_generation: out.generation ?? 0, instances_to_roll: out.toRoll };
          if (!req.query.wait || out.generation === null) return { ...(await clusters.getCluster(s, p, req.params.id)), detail };
          const wait = await waitFor(s, req, () => rolloutConverged(s, req.params.id), req.query.wait, req.params.id);
          return { ...(await clusters.getCluster(s, p, req.params.id)), detail, wait };
        }
        const out = await clusters.scaleCluster(servicesFor(s, req), p, req.params.id, asked.scale, asked.keepDisks);
        if (!req.query.wait) return { ...out.cluster, detail: out.detail };
        const wait = await waitFor(s, req, () => clusters.clusterConverged(s, req.params.id, 'running'), req.query.wait, req.params.id);
        return { ...(await clusters.getCluster(s, p, req.params.id)), detail: out.detail, wait };
      },
    );
    app.delete(
      '/:id',
      {
        schema: {
          tags,
          summary: 'Delete a cluster',
          description:
            'Releases its quota at once; from then on the cluster answers 404 (a second DELETE too) while its namespace is torn down in the background. ?wait= answers once it is gone; GET ?include_deleting=true and the event stream follow the teardown.',
          params: IdParams,
          querystring: WaitQuery,
          response: { 200: MessageWithWait, ...errors(401, 404, 422, 429) },
        },
      },
      async (req) => {
        const out = await clusters.deleteCluster(servicesFor(s, req), principalOf(req), req.params.id);
        if (!req.query.wait) return out;
        return { ...out, wait: await waitFor(s, req, () => clusters.clusterConverged(s, req.params.id, 'gone'), req.query.wait, req.params.id) };
      },
    );
    for (const action of ['suspend', 'resume'] as const) {
      app.post(
        `/:id/${action}`,
        {
          schema: {
            tags,
            summary: action === 'suspend' ? 'Suspend every running instance' : 'Resume every suspended instance',
            params: IdParams,
            querystring: WaitQuery,
            response: { 200: MessageWithWait, ...errors(400, 401, 404, 422, 429) },
          },
        },
        async (req) => {
          const out = await clusters.suspendOrResume(servicesFor(s, req), principalOf(req), req.params.id, action);
          if (!req.query.wait) return out;
          const target = action === 'suspend' ? 'suspended' : 'running';
          return { ...out, wait: await waitFor(s, req, () => clusters.clusterConverged(s, req.params.id, target), req.query.wait, req.params.id) };
        },
      );
    }
    app.get(
      '/:id/disks',
      {
        schema: {
          tags,
          summary: 'Disks scale-ins kept',
          description: "The root and data disks of VMs a scale-in with keep_disks removed: kept in the cluster's namespace, holding their storage of the quota, until deleted here or with the cluster.",
          params: IdParams,
          response: { 200: KeptDiskList, ...errors(401, 404, 422) },
        },
      },
      async (req) => disks.listKeptDisks(s, principalOf(req), req.params.id),
    );
    app.delete(
      '/:id/disks/:disk_id',
      {
        schema: {
          tags,
          summary: 'Delete a kept disk',
          description: 'Its storage is released at once; its DataVolume or claim is removed in the background.',
          params: KeptDiskParams,
          response: { 200: Message, ...errors(401, 404, 422) },
        },
      },
      async (req) => disks.deleteKeptDisk(servicesFor(s, req), principalOf(req), req.params.id, req.params.disk_id),
    );
    app.put(
      '/:id/expiry',
      {
        schema: {
          tags,
          summary: "Set or clear a cluster's expiry",
          description:
            'At expires_at the cluster is stopped (expire_action stop, the default: every running instance stopped) or deleted (delete: as DELETE /clusters/{id}), once, by one replica; the run is recorded in GET /clusters/{id}/schedules (runs) and the audit log (actor scheduler). ' +
            'Within KUBEKLOUD_EXPIRY_WARNING_SECONDS of it the cluster carries a warning (code expiring). expires_at must be in the future; null clears the expiry. A bad value: 422 naming the field, nothing changed.',
          params: IdParams,
          body: SetExpiry,
          response: { 200: ClusterWithInstances, ...errors(400, 401, 404, 422) },
        },
      },
      async (req) => {
        const p = principalOf(req);
        await schedules.setExpiry(servicesFor(s, req), p, req.params.id, req.body);
        return clusters.getCluster(s, p, req.params.id);
      },
    );
    app.get(
      '/:id/schedules',
      {
        schema: {
          tags,
          summary: "A cluster's power schedules, and what they and its expiry last did",
          description: "Each schedule with its next_run_at; runs: the cluster's last 20 scheduled runs (schedules and expiry), newest first, each run once whatever the number of replicas.",
          params: IdParams,
          response: { 200: ScheduleList, ...errors(401, 404, 422) },
        },
      },
      async (req) => schedules.listSchedules(s, principalOf(req), req.params.id),
    );
    app.post(
      '/:id/schedules',
      {
        schema: {
          tags,
          summary: 'Add a power schedule',
          description:
            'At every time of cron (five fields, or six with seconds first) read in time_zone (an IANA name, default UTC; daylight saving followed), every running instance is stopped (action stop) or every stopped instance started (start). ' +
            'Runs on one elected replica, exactly once per due time; after downtime the latest missed time runs once, the earlier ones not at all. At most 20 per cluster. A bad cron or time zone: 422 naming the field, nothing changed.',
          params: IdParams,
          body: CreateSchedule,
          response: { 201: Schedule, ...errors(400, 401, 404, 422) },
        },
      },
      async (req, reply) => reply.code(201).send(await schedules.addSchedule(servicesFor(s, req), principalOf(req), req.params.id, req.body)),
    );
    app.delete(
      '/:id/schedules/:schedule_id',
      {
        schema: {
          tags,
          summary: 'Delete a power schedule',
          description: 'It runs no more; its past runs stay in the history.',
          params: ScheduleParams,
          response: { 200: Message, ...errors(401, 404, 422) },
        },
      },
      async (req) => schedules.deleteSchedule(servicesFor(s, req), principalOf(req), req.params.id, req.params.schedule_id),
    );
  });
