// What the HTTP app is built from. Everything here is composed outside the HTTP
// layer (main.ts, or the tests): the use cases' context, the metrics registry
// and the readiness checks. Its own module so that app.ts and the routes both
// use it without importing each other.
import type { Metrics } from '../observability/metrics.ts';
import type { Services } from '../service/context.ts';
import type { Readiness } from '../service/readiness.ts';
import type { ConsoleTarget } from '../service/consoles.ts';
import type { WebSocket } from 'ws';
import type { IsolationReads } from '../domain/isolation.ts';

export type AppDeps = Services & {
  metrics: Metrics;
  /** The checks behind GET /ready, by name: 'ok' or why not. */
  readiness: Readiness;
  logger?: boolean | object;
  /** Serve HTTPS with this certificate and key (and send Strict-Transport-Security); absent: plain HTTP. */
  https?: { cert: Buffer; key: Buffer } | null;
  /** Opens a VMI's serial console or VNC stream through the Kubernetes API server (main.ts gives it); absent: consoles answer 503. Resolves paused (resume once listening); rejects with a DomainError saying why. */
  /** Reads what the isolation checks judge from Kubernetes (main.ts gives them); absent: the checks answer 503. */
  isolationReads?: IsolationReads;
  openVmiStream?: (target: ConsoleTarget, stream: 'console' | 'vnc') => Promise<WebSocket>;
};
