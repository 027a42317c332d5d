// GET /api/v1/instances/{id}/console (serial) and /vnc: a VM's consoles as
// WebSocket streams. Everything is decided before the upgrade, so a refusal is
// a plain HTTP answer: the token (Authorization header, or the bearer
// subprotocol browsers must use, auth.ts), the instance (404 when not the
// caller's, 409 unless a running VM), a seat (409 when the token already holds
// its sessions on the instance), then the VMI's stream through the Kubernetes
// API server (openVmiStream, given by main.ts). After the upgrade this route
// only carries bytes between the two sockets and tells the session
// (src/service/consoles.ts) how many went each way; the session owns the idle
// timeout, the seat and the audit rows.
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { DomainError } from '../../domain/errors.ts';
import { ConsoleSessions, type ConsoleKind, type ConsoleSession } from '../../service/consoles.ts';
import { principalOf, offeredSubprotocols, BEARER_SUBPROTOCOL_PREFIX, type Authenticate } from '../auth.ts';
import type { AppDeps } from '../deps.ts';
import { sendProblem } from '../errors.ts';
import { protectedRoutes } from './protected.ts';
import { errors, IdParams } from '../../contract/schemas.ts';

/** The data subprotocols a client may offer (KubeVirt's own, and noVNC's customary one); the first offered is answered. */
export const DATA_SUBPROTOCOLS = ['plain.kubevirt.io', 'binary'] as const;
/** Close codes of our own: 4001 the session was idle too long, 4002 the instance side failed, 4003 the token stopped working. */
export const CLOSE_IDLE = 4001;
export const CLOSE_UPSTREAM_FAILED = 4002;
export const CLOSE_ACCESS_ENDED = 4003;
const MAX_FRAME_BYTES = 1024 * 1024;

const KINDS: { kind: ConsoleKind; path: string; stream: 'console' | 'vnc'; summary: string }[] = [
  { kind: 'serial', path: '/:id/console', stream: 'console', summary: "A VM instance's serial console (WebSocket)" },
  { kind: 'vnc', path: '/:id/vnc', stream: 'vnc', summary: "A VM instance's graphical console, RFB over WebSocket (VNC)" },
];

const DESCRIPTION = [
  'Upgrades to a WebSocket carrying the raw bytes of the stream in binary frames (text frames from the client are sent on as their UTF-8 bytes).',
  'Authenticate with `Authorization: Bearer <token>`, or, where headers cannot be set (browsers), with the subprotocol',
  `\`${BEARER_SUBPROTOCOL_PREFIX}<token, base64url without padding>\` offered beside a data subprotocol (\`${DATA_SUBPROTOCOLS.join('` or `')}\`), which the server answers with.`,
  'Only for VM instances that are running (else 409); one session per token and instance unless KUBEKLOUD_CONSOLE_SESSIONS_PER_TOKEN allows more (else 409).',
  `The server closes a session idle for KUBEKLOUD_CONSOLE_IDLE_SECONDS with code ${CLOSE_IDLE}. A plain GET without an upgrade answers 426.`,
].join(' ');

type Joined = { session: ConsoleSession; upstream: WebSocket; toClient: { send: (b: Buffer) => void; early: Buffer[] }; onGone: () => void };

/**
 * Sends `buf` on `to`; while more than BUFFERED_HIGH bytes wait to go out
 * there (a slow client, a slow VM), reading from `from` is paused, and resumed
 * once they are written: a console never buffers without bound.
 */
const BUFFERED_HIGH = 4 * 1024 * 1024;
function forward(buf: Buffer, to: WebSocket, from: WebSocket): void {
  if (to.readyState !== to.OPEN) return;
  to.send(buf, { binary: true }, () => {
    if (from.isPaused && to.bufferedAmount < BUFFERED_HIGH / 2) from.resume();
  });
  if (to.bufferedAmount > BUFFERED_HIGH && !from.isPaused) from.pause();
}

const asBuffer = (data: RawData): Buffer => (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));

export const consoleStreamRoutes =
  (s: AppDeps, authenticate: Authenticate): FastifyPluginAsync =>
  protectedRoutes(s, authenticate, async (app) => {
    await app.register(websocket, {
      options: {
        maxPayload: MAX_FRAME_BYTES,
        perMessageDeflate: false,
        // Never the bearer subprotocol: only a data subprotocol is answered (none if none was offered).
        handleProtocols: (offered) => DATA_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
      },
    });
    const sessions = new ConsoleSessions(s, s.config.workerId);
    const joined = new WeakMap<FastifyRequest, Joined>();
    app.addHook('onClose', async () => {
      sessions.stop();
      await sessions.closeAll('the server is shutting down');
    });

    for (const k of KINDS) {
      app.route({
        method: 'GET',
        url: k.path,
        schema: {
          tags: ['instances'],
          summary: k.summary,
          description: DESCRIPTION,
          params: IdParams,
          response: { 101: { description: 'Switching Protocols: the stream' }, ...errors(400, 401, 404, 409, 422, 426, 503) },
        },
        // Before the upgrade: every refusal is an HTTP answer the client can read.
        preHandler: async (req) => {
          // A plain GET is told to upgrade, but only about an instance the caller may see (else 404, as on every route).
          if (!req.ws) return void (await sessions.target(principalOf(req), req.params.id, k.kind).catch((e: unknown) => {
            if (e instanceof DomainError && e.kind === 'not_found') throw e;
          }));
          const offered = offeredSubprotocols(req);
          if (offered.length > 0 && !offered.some((p) => (DATA_SUBPROTOCOLS as readonly string[]).includes(p))) {
            throw new DomainError(
              'invalid',
              `Offer a data subprotocol (${DATA_SUBPROTOCOLS.join(' or ')}) with any other: the server answers with it, and never with the token`,
              [{ loc: ['header', 'sec-websocket-protocol'], msg: `must include ${DATA_SUBPROTOCOLS.join(' or ')}`, type: 'value_error' }],
            );
          }
          const p = principalOf(req);
          const target = await sessions.target(p, req.params.id, k.kind);
          if (!s.openVmiStream) throw new DomainError('unavailable', 'Consoles are not available on this server (no Kubernetes connection)');
          const session = await sessions.begin(p, req.params.id, k.kind, req.id);
          let upstream: WebSocket;
          try {
            upstream = await s.openVmiStream(target, k.stream);
          } catch (err) {
            const status = err instanceof DomainError ? (err.kind === 'busy' ? 409 : 503) : 503;
            await session.close(`the ${k.stream} stream could not be opened: ${(err as Error).message}`, status);
            throw err;
          }
          // What the stream sends before the upgrade completes (a login prompt, an RFB greeting) waits for the client.
          const toClient: Joined['toClient'] = { early: [], send: (b) => void toClient.early.push(b) };
          upstream.on('message', (data) => {
            const buf = asBuffer(data);
            session.fromInstance(buf.length);
            toClient.send(buf);
          });
          upstream.resume();
          // The client may go away before the upgrade completes; the session ends with it.
          const onGone = () => {
            upstream.close(1000);
            void session.close('the client went away before the upgrade').catch((e) => req.log.warn({ err: e }, 'console close failed'));
          };
          req.raw.socket.once('close', onGone);
          joined.set(req, { session, upstream, toClient, onGone });
        },
        handler: (_req, reply) => {
          reply.header('upgrade', 'websocket');
          return sendProblem(reply, 426, 'This route is a WebSocket stream: send an upgrade request (Connection: Upgrade, Upgrade: websocket)');
        },
        wsHandler: (socket, req) => {
          const j = joined.get(req);
          if (!j) return socket.close(1011, 'no stream');
          const { session, upstream, toClient } = j;
          req.raw.socket.off('close', j.onGone);
          const log = (err: unknown) => req.log.warn({ err }, 'console session bookkeeping failed');
          // A token that stops working (revoked, its user disabled) ends its sessions at once.
          const unhold = req.server.access.hold(principalOf(req), () =>
            finish('the token stopped working', CLOSE_ACCESS_ENDED, 'the token no longer works (revoked, expired, or its user disabled)'),
          );
          const finish = (reason: string, clientCode: number, clientReason: string) => {
            unhold();
            void session.close(reason).catch(log);
            if (upstream.readyState === upstream.OPEN || upstream.readyState === upstream.CONNECTING) upstream.close(1000);
            if (socket.readyState === socket.OPEN) socket.close(clientCode, clientReason);
          };
          socket.on('message', (data) => {
            const buf = asBuffer(data);
            session.toInstance(buf.length);
            forward(buf, upstream, socket);
          });
          toClient.send = (buf) => forward(buf, socket, upstream);
          for (const buf of toClient.early.splice(0)) toClient.send(buf);
          socket.on('close', (code) => finish(`the client closed it (${code})`, 1000, ''));
          upstream.on('close', (code, why) => {
            const normal = code === 1000 || code === 1005;
            finish(`the ${k.stream} stream closed (${code}${why.length ? `: ${why.toString().slice(0, 100)}` : ''})`, normal ? 1000 : CLOSE_UPSTREAM_FAILED, normal ? 'the console closed' : 'the console stream failed');
          });
          if (upstream.readyState !== upstream.OPEN) return finish(`the ${k.stream} stream closed before the upgrade`, CLOSE_UPSTREAM_FAILED, 'the console stream failed');
          void session
            .start(() => finish(`idle for ${session.idleSeconds} s`, CLOSE_IDLE, `idle for ${session.idleSeconds} s`))
            .catch(log);
        },
      });
    }
  });
