// Kubernetes failures as values: a closed set of reasons the reconciler and
// /ready can act on, with the API server's own message kept for users.
import { capMessage } from '../domain/untrusted.ts';

export type KubeReason = 'not_found' | 'forbidden' | 'conflict' | 'invalid' | 'gone' | 'unreachable' | 'throttled' | 'server' | 'rejected';

export class KubeError extends Error {
  constructor(
    readonly reason: KubeReason,
    message: string,
    readonly code: number | null = null,
  ) {
    super(message);
  }
  /** Worth retrying as is: the cluster may get better on its own. */
  get transient(): boolean {
    return this.reason === 'unreachable' || this.reason === 'throttled' || this.reason === 'server' || this.reason === 'conflict';
  }
  /** Kubernetes itself is away (no connection, or a 5xx such as storage down), not this object. */
  get outage(): boolean {
    return this.reason === 'unreachable' || this.reason === 'server';
  }
}


export function toKubeError(err: unknown): KubeError {
  if (err instanceof KubeError) return err;
  const e = err as { code?: number | string; body?: unknown; message?: string; cause?: { code?: string } };
  if (typeof e?.code === 'number') {
    const status = parseStatus(e.body);
    const message = capMessage(status?.message ?? e.message ?? `HTTP ${e.code}`);
    const reason: KubeReason =
      e.code === 404 ? 'not_found'
      : e.code === 403 ? 'forbidden'
      : e.code === 409 ? 'conflict'
      : e.code === 410 ? 'gone'
      : e.code === 422 ? 'invalid'
      : e.code === 429 ? 'throttled'
      : e.code >= 500 ? 'server'
      : 'rejected';
    return new KubeError(reason, message, e.code);
  }
  return new KubeError('unreachable', capMessage(`Kubernetes API unreachable: ${e?.cause?.code ?? e?.message ?? String(err)}`));
}

function parseStatus(body: unknown): { message?: string; reason?: string } | null {
  if (!body) return null;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body);
    } catch {
      return { message: body };
    }
  }
  return body as { message?: string };
}
