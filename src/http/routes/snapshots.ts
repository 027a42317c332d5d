// /api/v1/instances/{id}/snapshots
import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '../../service/context.ts';
import * as snapshots from '../../service/snapshots.ts';
import { principalOf, type Authenticate } from '../auth.ts';
import { waitFor } from '../holds.ts';
import { servicesFor } from '../idempotency.ts';
import { protectedRoutes } from './protected.ts';
import { CreatedSnapshot, CreateSnapshot, errors, IdParams, Message, MessageWithWait, SnapshotList, SnapshotParams, WaitQuery } from '../../contract/schemas.ts';
import { Type } from 'typebox';

export const snapshotRoutes =
  (s: Services, authenticate: Authenticate): FastifyPluginAsync =>
  protectedRoutes(s, authenticate, (app) => {
    const tags = ['snapshots'];
    app.post(
      '/:id/snapshots',
      {
        schema: {
          tags,
          summary: "Snapshot an instance's persistent disks",
          description:
            "A VM's root and data disks (KubeVirt VirtualMachineSnapshot), or a container's volume (VolumeSnapshot). Its size — the instance's disks — is reserved of the storage quota at once (403 when it does not fit) and held until the snapshot is deleted. An instance with no persistent disk, or one being restored, answers 409.",
          params: IdParams,
          querystring: WaitQuery,
          body: CreateSnapshot,
          response: { 201: CreatedSnapshot, ...errors(401, 403, 404, 409, 422, 429) },
        },
      },
      async (req, reply) => {
        const created = await snapshots.createSnapshot(servicesFor(s, req), principalOf(req), req.params.id, req.body);
        if (!req.query.wait) return reply.code(201).send(created);
        const wait = await waitFor(s, req, () => snapshots.snapshotSettled(s, req.params.id, created.id), req.query.wait);
        return reply.code(201).send({ ...(await snapshots.getSnapshot(s, principalOf(req), req.params.id, created.id)), wait });
      },
    );
    app.get(
      '/:id/snapshots',
      { schema: { tags, summary: "An instance's snapshots, newest first", params: IdParams, response: { 200: SnapshotList, ...errors(401, 404, 422) } } },
      async (req) => snapshots.listSnapshots(s, principalOf(req), req.params.id),
    );
    app.get(
      '/:id/snapshots/:snapshot_id',
      { schema: { tags, summary: 'A snapshot, with its latest restore', params: SnapshotParams, response: { 200: Type.Ref('Snapshot'), ...errors(401, 404, 422) } } },
      async (req) => snapshots.getSnapshot(s, principalOf(req), req.params.id, req.params.snapshot_id),
    );
    app.delete(
      '/:id/snapshots/:snapshot_id',
      {
        schema: {
          tags,
          summary: 'Delete a snapshot',
          description: 'Its storage is released at once; its object is removed in the background. A snapshot being restored answers 409.',
          params: SnapshotParams,
          response: { 200: Message, ...errors(401, 404, 409, 422) },
        },
      },
      async (req) => snapshots.deleteSnapshot(servicesFor(s, req), principalOf(req), req.params.id, req.params.snapshot_id),
    );
    app.post(
      '/:id/snapshots/:snapshot_id/restore',
      {
        schema: {
          tags,
          summary: 'Restore an instance from one of its snapshots',
          description:
            "The instance's disks are replaced by the snapshot's. A running or suspended instance is stopped first — the answer says so (detail.stopped_first) — and returns to that state once restored. Only a ready snapshot can be restored, one restore at a time (409 otherwise). With ?wait=, answers once the instance is back.",
          params: SnapshotParams,
          querystring: WaitQuery,
          response: { 202: MessageWithWait, ...errors(401, 404, 409, 422, 429) },
        },
      },
      async (req, reply) => {
        const out = await snapshots.restoreSnapshot(servicesFor(s, req), principalOf(req), req.params.id, req.params.snapshot_id);
        if (!req.query.wait) return reply.code(202).send(out);
        return reply.code(202).send({ ...out, wait: await waitFor(s, req, () => snapshots.restoreSettled(s, req.params.id, req.params.snapshot_id), req.query.wait) });
      },
    );
  });
