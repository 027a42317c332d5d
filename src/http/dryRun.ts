// ?dry_run=true: the request is quoted (src/service/quotes.ts), never carried
// out. Read from the raw query, so that a quote is recognised even when the
// request's own schema refused it: then the schema's problems are its reasons.
import type { FastifyError, FastifyRequest } from 'fastify';
import type { QuoteReason } from '../contract/schemas.ts';
import { validationProblems } from './errors.ts';

export function isDryRun(req: FastifyRequest): boolean {
  const q = new URL(req.url, 'http://x').searchParams;
  return q.get('dry_run') === 'true';
}

/**
 * For a route with attachValidation: the schema's problems as a quote's
 * reasons when this is a dry run; otherwise the refusal is thrown as usual (422).
 */
export function schemaReasons(req: FastifyRequest): QuoteReason[] {
  const err = (req as FastifyRequest & { validationError?: FastifyError }).validationError;
  if (!err) return [];
  if (!isDryRun(req) || err.validationContext !== 'body') throw err;
  return validationProblems(err, req).map((p) => ({ code: 'invalid' as const, message: p.msg, loc: p.loc }));
}
