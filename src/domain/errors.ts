// Domain errors are values the HTTP layer maps to status codes in one place.
// Each carries a message a user can act on.

export type FieldProblem = { loc: (string | number)[]; msg: string; type: string };

export class DomainError extends Error {
  constructor(
    readonly kind:
      | 'invalid' // 422, field problems
      | 'conflict' // 400: illegal transition, name taken (as the earlier service did)
      | 'unauthenticated' // 401
      | 'forbidden' // 403: role
      | 'quota' // 403: quota exceeded
      | 'not_found' // 404
      | 'unavailable' // 503: a dependency is down
      | 'rate_limited' // 429
      | 'in_progress' // 409: the same Idempotency-Key is still being answered
      | 'busy', // 409: not possible in the resource's present state (a console of a stopped VM, every console seat taken)
    message: string,
    readonly problems: FieldProblem[] = [],
  ) {
    super(message);
  }
}

export class RateLimited extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message);
  }
}

export const invalid = (problems: FieldProblem[]) =>
  new DomainError('invalid', problems.map((p) => `${p.loc.join('.')}: ${p.msg}`).join('; '), problems);
export const invalidField = (field: string, msg: string) =>
  invalid([{ loc: ['body', field], msg, type: 'value_error' }]);
export const conflict = (message: string) => new DomainError('conflict', message);
export const busy = (message: string) => new DomainError('busy', message);
export const notFound = (what: string) => new DomainError('not_found', `${what} not found`);
export const forbidden = (message: string) => new DomainError('forbidden', message);
export const unauthenticated = (message: string) => new DomainError('unauthenticated', message);
export const quotaExceeded = (message: string) => new DomainError('quota', message);
