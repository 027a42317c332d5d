// `kubekloud instances console ID`: the VM's serial console on this terminal.
// A WebSocket to GET /api/v1/instances/{id}/console (the token in the
// Authorization header, subprotocol plain.kubevirt.io, raw bytes both ways).
// On a terminal, stdin is put in raw mode (every key goes to the VM, Ctrl-C
// included) and restored however the session ends; Ctrl-] leaves.
import WebSocket from 'ws';
import { ApiError, NetworkError, ROUTES, type KubeKloudClient } from './client.ts';

/** Ctrl-] (GS), as telnet and virtctl use: the one byte that never reaches the VM. */
export const ESCAPE_BYTE = 0x1d;
const IDLE_CLOSE = 4001;

export type ConsoleIo = {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WritableStream;
  err: (text: string) => void;
};

/** Opens the session; rejects with ApiError (the API's refusal) or NetworkError. */
function connect(client: KubeKloudClient, id: number): Promise<WebSocket> {
  const url = `${client.baseUrl.replace(/^http/, 'ws')}${ROUTES.instanceConsole[1].replace('{id}', String(id))}`;
  const ws = new WebSocket(url, ['plain.kubevirt.io'], { headers: { authorization: `Bearer ${client.token}` }, handshakeTimeout: 30_000 });
  return new Promise((resolve, reject) => {
    // Paused at once: the login prompt may come with the handshake, before runConsole listens.
    ws.once('open', () => {
      ws.pause();
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let detail: unknown;
        try {
          detail = (JSON.parse(text) as { detail?: unknown }).detail;
        } catch {
          /* not the API's JSON */
        }
        reject(new ApiError(res.statusCode ?? 0, typeof detail === 'string' || Array.isArray(detail) ? detail : `HTTP ${res.statusCode}`));
      });
    });
    ws.on('error', (e) => reject(new NetworkError(`cannot open the console at ${client.baseUrl}: ${e.message}`)));
  });
}

/** Runs the session until Ctrl-], the end of stdin, or the server closing it; returns the exit code. */
export async function runConsole(client: KubeKloudClient, id: number, io: ConsoleIo): Promise<number> {
  const ws = await connect(client, id);
  const tty = io.stdin.isTTY === true;
  const restore = () => {
    if (tty && io.stdin.isRaw) io.stdin.setRawMode(false);
  };
  // Whatever ends the process, the terminal is given back as it was.
  process.once('exit', restore);
  io.err(`Connected to the serial console of instance ${id}. Press Ctrl-] to leave.\r\n`);
  if (tty) io.stdin.setRawMode(true);
  return new Promise<number>((resolve) => {
    let leaving = false;
    const done = (code: number, line?: string) => {
      restore();
      process.removeListener('exit', restore);
      io.stdin.removeListener('data', onInput);
      io.stdin.removeListener('end', onEnd);
      io.stdin.pause();
      if (line) io.err(`\r\n${line}\r\n`);
      resolve(code);
    };
    const onInput = (chunk: Buffer) => {
      const at = chunk.indexOf(ESCAPE_BYTE);
      const send = at < 0 ? chunk : chunk.subarray(0, at);
      if (send.length > 0 && ws.readyState === ws.OPEN) ws.send(send, { binary: true });
      if (at >= 0) {
        leaving = true;
        ws.close(1000);
      }
    };
    const onEnd = () => {
      leaving = true;
      ws.close(1000);
    };
    ws.on('message', (data: Buffer) => io.stdout.write(data));
    ws.on('close', (code, reason) => {
      if (leaving) return done(0, 'Left the console.');
      const why = reason.toString() || `code ${code}`;
      if (code === 1000 || code === IDLE_CLOSE) return done(0, `The console was closed by the server: ${why}.`);
      return done(1, `error: the console stream ended: ${why}`);
    });
    ws.on('error', () => {});
    ws.resume();
    io.stdin.on('data', onInput);
    io.stdin.on('end', onEnd);
    io.stdin.resume();
  });
}
