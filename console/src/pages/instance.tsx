// One instance: its state and, for a running VM, its consoles through the API
// (GET /api/v1/instances/{id}/console and /vnc as WebSockets): a serial
// terminal (xterm.js) and a VNC view (noVNC). A browser cannot set headers on
// a WebSocket, so the token goes as the subprotocol
// base64url.bearer.kubekloud.io.<token>, beside the data subprotocol the
// server answers with. One console at a time: the API allows one session per
// token and instance.
import { useCallback, useEffect, useRef, useState } from 'react';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import type RFB from '@novnc/novnc';
import { api, session, type Instance } from '../api.ts';
import { Endpoints } from '../endpoints.tsx';
import { Alert, Link, PageTitle, Status } from '../ui.tsx';
import { Snapshots } from './snapshots.tsx';

type Tab = 'serial' | 'vnc';
type Conn = 'connecting' | 'connected' | 'closed';

const DATA_PROTOCOL = 'plain.kubevirt.io';

function tokenProtocol(): string {
  const bytes = new TextEncoder().encode(session.token ?? '');
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return `base64url.bearer.kubekloud.io.${btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
}

function streamUrl(id: number, stream: 'console' | 'vnc'): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/instances/${id}/${stream}`;
}

/** The seat of a console just closed is freed by the server a moment later: a refused open is tried again a few times. */
const RETRIES = [300, 800, 1500];

function Reconnect(props: { conn: Conn; onReconnect: () => void }) {
  if (props.conn !== 'closed') return null;
  return (
    <button type="button" className="small" onClick={props.onReconnect}>
      Reconnect
    </button>
  );
}

function SerialConsole(props: { id: number; onReconnect: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  const [conn, setConn] = useState<Conn>('connecting');
  const [why, setWhy] = useState<string>();
  useEffect(() => {
    const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, rows: 24, cols: 80 });
    term.open(box.current!);
    let ws: WebSocket | null = null;
    let stopped = false;
    let timer: number | undefined;
    const encoder = new TextEncoder();
    const input = term.onData((d) => {
      if (ws?.readyState === WebSocket.OPEN) ws.send(encoder.encode(d));
    });
    const connect = (attempt: number) => {
      setConn('connecting');
      let opened = false;
      ws = new WebSocket(streamUrl(props.id, 'console'), [DATA_PROTOCOL, tokenProtocol()]);
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => {
        opened = true;
        setConn('connected');
        setWhy(undefined);
        term.focus();
      };
      ws.onmessage = (e) => term.write(typeof e.data === 'string' ? e.data : new Uint8Array(e.data as ArrayBuffer));
      ws.onclose = (e) => {
        if (stopped) return;
        if (!opened && attempt < RETRIES.length) return void (timer = window.setTimeout(() => connect(attempt + 1), RETRIES[attempt]));
        setConn('closed');
        setWhy(opened ? e.reason || `closed (${e.code})` : 'The console could not be opened (is the VM running, or a console of it already open with this token?)');
      };
    };
    connect(0);
    return () => {
      stopped = true;
      clearTimeout(timer);
      input.dispose();
      ws?.close();
      term.dispose();
    };
  }, [props.id]);
  return (
    <section aria-label="Serial console">
      <p className="small muted" data-testid="serial-state">
        Serial console: {conn}
        {why ? ` — ${why}` : ''} <Reconnect conn={conn} onReconnect={props.onReconnect} />
      </p>
      <div ref={box} className="terminal" data-testid="serial-terminal" />
    </section>
  );
}

function VncConsole(props: { id: number; onReconnect: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  const [conn, setConn] = useState<Conn>('connecting');
  const [why, setWhy] = useState<string>();
  useEffect(() => {
    let rfb: RFB | null = null;
    let stopped = false;
    let timer: number | undefined;
    // noVNC is loaded only when the VNC tab is opened.
    const client = import('@novnc/novnc').then((m) => m.default);
    const connect = async (attempt: number) => {
      setConn('connecting');
      let opened = false;
      const RFBClient = await client;
      if (stopped) return;
      rfb = new RFBClient(box.current!, streamUrl(props.id, 'vnc'), { wsProtocols: [DATA_PROTOCOL, tokenProtocol()], shared: true });
      rfb.scaleViewport = true;
      rfb.addEventListener('connect', () => {
        opened = true;
        setConn('connected');
        setWhy(undefined);
      });
      rfb.addEventListener('disconnect', (e) => {
        rfb = null;
        if (stopped) return;
        if (!opened && attempt < RETRIES.length) return void (timer = window.setTimeout(() => void connect(attempt + 1), RETRIES[attempt]));
        setConn('closed');
        setWhy((e as CustomEvent<{ clean: boolean }>).detail?.clean ? 'disconnected' : 'The VNC console could not be opened or was cut');
      });
    };
    void connect(0);
    return () => {
      stopped = true;
      clearTimeout(timer);
      rfb?.disconnect();
    };
  }, [props.id]);
  return (
    <section aria-label="VNC console">
      <p className="small muted" data-testid="vnc-state">
        VNC: {conn}
        {why ? ` — ${why}` : ''} <Reconnect conn={conn} onReconnect={props.onReconnect} />
      </p>
      <div ref={box} className="vnc" data-testid="vnc-screen" />
    </section>
  );
}

/** How soon an instance on its way somewhere is read again. */
const REREAD_MS = 2000;

export function InstancePage(props: { id: number }) {
  const [instance, setInstance] = useState<Instance | null>(null);
  const [kind, setKind] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tab, setTab] = useState<Tab>('serial');
  const [generation, setGeneration] = useState(0);
  const [reads, setReads] = useState(0);
  const reconnect = () => setGeneration((g) => g + 1);
  const reread = useCallback(() => setReads((n) => n + 1), []);
  useEffect(() => {
    let gone = false;
    (async () => {
      try {
        const i = (await api<Instance>('GET', `/api/v1/instances/${props.id}`)).body;
        const c = (await api<{ instance_type: string }>('GET', `/api/v1/clusters/${i.cluster_id}`)).body;
        if (gone) return;
        setInstance(i);
        setKind(c.instance_type);
      } catch (err) {
        if (!gone) setError(err);
      }
    })();
    return () => {
      gone = true;
    };
  }, [props.id, reads]);
  // On its way (not yet what it was last asked to be): read again every two
  // seconds, so the page follows it to the end (a restore's start, say)
  // without a reload.
  const onItsWay = instance !== null && instance.phase !== instance.desired_status && instance.phase !== 'failed';
  useEffect(() => {
    if (!onItsWay) return;
    const t = window.setTimeout(reread, REREAD_MS);
    return () => clearTimeout(t);
  }, [onItsWay, instance, reread]);

  if (error) return <Alert error={error} />;
  if (!instance) return <p className="loading">Loading…</p>;
  const running = instance.phase === 'running';
  return (
    <div>
      <PageTitle>{instance.instance_name}</PageTitle>
      <p>
        <Status value={instance.phase} />{instance.progress !== undefined && ` ${instance.progress} %`} · <Link to={`/clusters/${instance.cluster_id}`}>its cluster</Link>
        {instance.ip ? ` · ${instance.ip}` : ''}
      </p>
      <dl className="facts">
        <div><dt>Endpoints</dt><dd data-endpoints="instance"><Endpoints list={instance.endpoints} empty="none (no exposed ports, or not yet observed)" /></dd></div>
        {instance.message && <div><dt>Message</dt><dd data-testid="instance-message">{instance.message}</dd></div>}
      </dl>
      <Snapshots instanceId={instance.id} instanceName={instance.instance_name} onChange={reread} />
      {kind !== 'vm' ? (
        <Alert kind="info">Containers have no console here: only VM instances have a serial console and VNC.</Alert>
      ) : !running ? (
        <Alert kind="info">The consoles open while the VM is running; it is {instance.phase} now.</Alert>
      ) : (
        <>
          <div role="tablist" aria-label="Console" className="tabs">
            {(['serial', 'vnc'] as Tab[]).map((t) => (
              <button key={t} type="button" role="tab" aria-selected={tab === t} className={tab === t ? 'primary small' : 'small'} onClick={() => setTab(t)}>
                {t === 'serial' ? 'Serial console' : 'VNC'}
              </button>
            ))}
          </div>
          {tab === 'serial' ? (
            <SerialConsole key={`serial-${generation}`} id={instance.id} onReconnect={reconnect} />
          ) : (
            <VncConsole key={`vnc-${generation}`} id={instance.id} onReconnect={reconnect} />
          )}
          <p className="small muted">One console at a time: the API allows one session per token and instance. An idle session is closed by the server.</p>
        </>
      )}
    </div>
  );
}
