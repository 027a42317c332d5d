// Small building blocks shared by the pages: routing, form fields, errors,
// the confirmation dialog, status badges and usage bars.
import { useEffect, useRef, useState, useSyncExternalStore, type ReactNode } from 'react';
import { ApiError } from './api.ts';

// --- Routing: paths under /console, History API, served with an SPA fallback.
export const BASE = '/console';
const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((l) => l()));
export function navigate(to: string, replace = false) {
  const url = BASE + (to.startsWith('/') ? to : `/${to}`);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  listeners.forEach((l) => l());
}
export function usePath(): string {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => {
      const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
      return p.replace(/\/+$/, '') || '/';
    },
  );
}
export function Link(props: { to: string; children: ReactNode; className?: string; current?: boolean }) {
  return (
    <a
      href={BASE + props.to}
      className={props.className}
      aria-current={props.current ? 'page' : undefined}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}

// --- Page heading that takes focus on arrival, so screen readers and keyboards start there.
export function PageTitle(props: { children: ReactNode; actions?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return (
    <div className="page-head">
      <h1 tabIndex={-1} ref={ref}>
        {props.children}
      </h1>
      {props.actions && <div className="page-actions">{props.actions}</div>}
    </div>
  );
}

// --- Errors in words.
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
export function Alert(props: { error?: unknown; children?: ReactNode; kind?: 'error' | 'ok' | 'info' }) {
  const kind = props.kind ?? 'error';
  if (!props.error && !props.children) return null;
  return (
    <div className={`alert alert-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {props.error ? errorText(props.error) : props.children}
    </div>
  );
}

// --- A labelled form field with its hint and error, wired for assistive tech.
export function Field(props: {
  id: string;
  label: string;
  hint?: ReactNode;
  error?: string;
  children: (a11y: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ReactNode;
}) {
  const describedBy = [props.hint ? `${props.id}-hint` : '', props.error ? `${props.id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div className={`field${props.error ? ' field-invalid' : ''}`}>
      <label htmlFor={props.id}>{props.label}</label>
      {props.children({ id: props.id, 'aria-invalid': Boolean(props.error), 'aria-describedby': describedBy || undefined })}
      {props.hint && (
        <div className="hint" id={`${props.id}-hint`}>
          {props.hint}
        </div>
      )}
      {props.error && (
        <div className="field-error" id={`${props.id}-error`}>
          {props.error}
        </div>
      )}
    </div>
  );
}

// --- Asking before anything is deleted: a modal <dialog>, which keeps focus inside.
type ConfirmRequest = { title: string; body: ReactNode; action: string; resolve: (ok: boolean) => void };
let openConfirm: ((r: ConfirmRequest) => void) | null = null;
export function confirmAction(title: string, body: ReactNode, action = 'Delete'): Promise<boolean> {
  return new Promise((resolve) => (openConfirm ? openConfirm({ title, body, action, resolve }) : resolve(window.confirm(title))));
}
/** Asks first, then runs a destructive action and reports it in the page's notice or error slot. */
export async function confirmThenRun(o: {
  title: string;
  body: ReactNode;
  action: string;
  run: () => Promise<unknown>;
  done: string;
  setNotice: (notice: string | null) => void;
  setError: (error: Error | null) => void;
  reload: () => unknown;
}): Promise<void> {
  if (!(await confirmAction(o.title, o.body, o.action))) return;
  try {
    await o.run();
    o.setNotice(o.done);
    o.setError(null);
    void o.reload();
  } catch (err) {
    o.setNotice(null);
    o.setError(new Error(errorText(err)));
  }
}

export function ConfirmHost() {
  const [req, setReq] = useState<ConfirmRequest | null>(null);
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    openConfirm = setReq;
    return () => {
      openConfirm = null;
    };
  }, []);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (req && !d.open) {
      d.showModal();
      cancelRef.current?.focus();
    } else if (!req && d.open) d.close();
  }, [req]);
  const done = (ok: boolean) => {
    req?.resolve(ok);
    setReq(null);
  };
  return (
    <dialog ref={ref} className="dialog" aria-labelledby="confirm-title" onCancel={() => done(false)}>
      {req && (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            done(true);
          }}
        >
          <h2 id="confirm-title">{req.title}</h2>
          <div className="dialog-body">{req.body}</div>
          <div className="dialog-actions">
            <button type="button" ref={cancelRef} onClick={() => done(false)}>
              Cancel
            </button>
            <button type="submit" className="danger">
              {req.action}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

// --- Status and usage.
const TONE: Record<string, string> = {
  running: 'ok',
  pending: 'wait',
  provisioning: 'wait',
  starting: 'wait',
  stopping: 'wait',
  repairing: 'wait',
  deleting: 'wait',
  stopped: 'idle',
  suspended: 'idle',
  degraded: 'bad',
  failed: 'bad',
};
export function Status(props: { value: string; title?: string }) {
  return (
    <span className={`status status-${TONE[props.value] ?? 'idle'}`} title={props.title ?? undefined}>
      {props.value}
    </span>
  );
}
export function fmt(n: number, digits = 3): string {
  return Number(n.toFixed(digits)).toLocaleString('en', { maximumFractionDigits: digits });
}
export function UsageBar(props: { label: string; used: number; total: number; unit: string; extra?: number }) {
  const total = props.total > 0 ? props.total : 1;
  const pct = Math.min(100, (props.used / total) * 100);
  const extraPct = props.extra ? Math.min(100 - pct, (props.extra / total) * 100) : 0;
  const over = props.used + (props.extra ?? 0) > props.total + 1e-9;
  return (
    <div className="usage">
      <div className="usage-label">
        <span>{props.label}</span>
        <span>
          {fmt(props.used)}
          {props.extra ? ` + ${fmt(props.extra)}` : ''} of {fmt(props.total)} {props.unit}
        </span>
      </div>
      <div
        className="bar"
        role="meter"
        aria-label={props.label}
        aria-valuemin={0}
        aria-valuemax={props.total}
        aria-valuenow={props.used + (props.extra ?? 0)}
        aria-valuetext={`${fmt(props.used + (props.extra ?? 0))} of ${fmt(props.total)} ${props.unit}`.trim()}
      >
        <div className="bar-used" style={{ width: `${pct}%` }} />
        {extraPct > 0 && <div className={`bar-extra${over ? ' bar-over' : ''}`} style={{ width: `${extraPct}%` }} />}
      </div>
    </div>
  );
}

/** A datetime-local value (the browser's zone) as an RFC 3339 UTC instant, as the API takes times; '' stays ''. */
export const toInstant = (local: string) => (local ? new Date(local).toISOString() : '');
/** The browser's IANA time zone, in which datetime-local values are read. */
export const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export function when(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString('en', { dateStyle: 'medium', timeStyle: 'short' });
}

/** Copy a secret, with a fallback message where the clipboard is not allowed. */
export function CopyButton(props: { text: string; label?: string }) {
  const [done, setDone] = useState('');
  return (
    <>
      <button
        type="button"
        onClick={() =>
          navigator.clipboard?.writeText(props.text).then(
            () => setDone('Copied'),
            () => setDone('Select the text and copy it'),
          ) ?? setDone('Select the text and copy it')
        }
      >
        {props.label ?? 'Copy'}
      </button>
      <span role="status" className="copied">
        {done}
      </span>
    </>
  );
}
