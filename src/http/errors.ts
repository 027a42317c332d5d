// One place maps every failure to HTTP: domain errors to their 4xx, schema
// failures to a 422 list naming each field, a database outage (which the
// store reports as 'unavailable') to 503, and
// anything else to a 500 that hides internals.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, RateLimited, type FieldProblem } from '../domain/errors.ts';

const STATUS: Record<DomainError['kind'], number> = {
  invalid: 422,
  conflict: 400,
  unauthenticated: 401,
  forbidden: 403,
  quota: 403,
  not_found: 404,
  unavailable: 503,
  rate_limited: 429,
  in_progress: 409,
  busy: 409,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function sendProblem(reply: FastifyReply, status: number, detail: string | FieldProblem[]) {
  if (status === 401) reply.header('WWW-Authenticate', 'Bearer');
  return reply
    .code(status)
    .type('application/json')
    .send({ detail, type: 'about:blank', title: TITLES[status] ?? 'Error', status });
}

/** Schema errors to FastAPI-style locations: ["body", "field"], ["query", "limit"]. */
export function validationProblems(err: FastifyError, req: FastifyRequest): FieldProblem[] {
  const where = (err.validationContext ?? 'body') as string;
  return (err.validation ?? []).map((v) => {
    const path = (v.instancePath ?? '').split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const params = v.params as Record<string, unknown>;
    if (v.keyword === 'required' && params.missingProperty) path.push(String(params.missingProperty));
    if (v.keyword === 'additionalProperties' && params.additionalProperty) {
      path.push(String(params.additionalProperty));
      return { loc: [where, ...path], msg: 'unknown field', type: 'value_error.extra' };
    }
    if (where === 'body' && path.length === 0 && v.keyword === 'type' && req.body === undefined) {
      return { loc: ['body'], msg: 'field required: send a JSON object', type: 'value_error.missing' };
    }
    const msg = v.keyword === 'required' ? 'field required' : (v.message ?? 'invalid value');
    return { loc: [where, ...path], msg, type: `value_error.${v.keyword}` };
  });
}

export function handleError(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof RateLimited) reply.header('retry-after', String(err.retryAfterSeconds));
  if (err instanceof DomainError) {
    const status = STATUS[err.kind];
    if (err.kind === 'unavailable') req.log.error({ err }, 'database unreachable');
    return sendProblem(reply, status, err.kind === 'invalid' ? err.problems : err.message);
  }
  if (err.validation) return sendProblem(reply, 422, validationProblems(err, req));
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendProblem(reply, 413, `Request body is larger than the limit of ${req.routeOptions.bodyLimit ?? 'the server'} bytes`);
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendProblem(reply, 415, 'Send the body as application/json');
  if (err.statusCode === 400 && (err.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' || err instanceof SyntaxError || /JSON/.test(err.message))) {
    return sendProblem(reply, 400, 'The body is not valid JSON');
  }
  if (err.statusCode === 429) return sendProblem(reply, 429, err.message);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return sendProblem(reply, err.statusCode, err.message);
  req.log.error({ err }, 'unhandled error');
  return sendProblem(reply, 500, 'Internal server error');
}
