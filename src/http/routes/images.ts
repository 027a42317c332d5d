// /api/v1/images: the image catalogue. Admins create, update and retire;
// every authenticated caller lists and reads.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../../service/context.ts';
import * as images from '../../service/images.ts';
import { requireAdmin } from '../../service/users.ts';
import { principalOf, type Authenticate } from '../auth.ts';
import { servicesFor } from '../idempotency.ts';
import { protectedRoutes } from './protected.ts';
import { CreateImage, errors, ImageListQuery, ImageNameParams, PatchImage } from '../../contract/schemas.ts';

export const imageRoutes =
  (s: Services, authenticate: Authenticate): FastifyPluginAsync =>
  protectedRoutes(s, authenticate, (app) => {
    const admin = async (req: Parameters<typeof principalOf>[0]) => requireAdmin(principalOf(req));
    const tags = ['images'];

    app.post(
      '/',
      {
        preHandler: admin,
        schema: {
          tags,
          summary: 'Add an image to the catalogue (admin)',
          body: CreateImage,
          response: { 201: Type.Ref('Image'), ...errors(400, 401, 403, 422) },
        },
      },
      async (req, reply) => reply.code(201).send(await images.createImage(servicesFor(s, req), req.body)),
    );
    app.get(
      '/',
      {
        schema: {
          tags,
          summary: 'List the catalogue',
          description: 'Images clusters may name in their image field, by name; retired ones only with include_retired=true.',
          querystring: ImageListQuery,
          response: { 200: Type.Array(Type.Ref('Image')), ...errors(401, 422) },
        },
      },
      async (req) => images.listImages(s, req.query),
    );
    app.get(
      '/:name',
      { schema: { tags, summary: 'One image, retired or not', params: ImageNameParams, response: { 200: Type.Ref('Image'), ...errors(401, 404, 422) } } },
      async (req) => images.getImage(s, req.params.name),
    );
    app.patch(
      '/:name',
      {
        preHandler: admin,
        schema: {
          tags,
          summary: 'Change an image (admin)',
          description: 'Clusters already created keep the source they resolved; only new clusters see the change. retired: false offers a retired image again.',
          params: ImageNameParams,
          body: PatchImage,
          response: { 200: Type.Ref('Image'), ...errors(400, 401, 403, 404, 422) },
        },
      },
      async (req) => images.updateImage(servicesFor(s, req), req.params.name, req.body),
    );
    app.post(
      '/:name/retire',
      {
        preHandler: admin,
        schema: {
          tags,
          summary: 'Retire an image (admin)',
          description: 'New clusters can no longer name it (422); clusters using it keep running.',
          params: ImageNameParams,
          response: { 200: Type.Ref('Image'), ...errors(401, 403, 404, 422) },
        },
      },
      async (req) => images.retireImage(servicesFor(s, req), req.params.name),
    );
  });
