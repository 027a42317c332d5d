// Create a cluster: the form checks what the API checks, shows what the
// request would use of the quota and what would remain (the API's own quote,
// ?dry_run=true, with every reason it would refuse it), and keeps its input
// when the API refuses it (with the API's words beside the fields). An expiry
// is entered in the browser's time zone and sent as a UTC instant.
import { useEffect, useState } from 'react';
import { api, ApiError, get, post, type CreatedCluster, type Image, type Quota, type QuoteAnswer } from '../api.ts';
import { Alert, browserZone, Field, fmt, navigate, PageTitle, toInstant, UsageBar } from '../ui.tsx';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const IMAGE = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SSH_KEY = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( [^\n\r]*)?$/;

type Form = {
  name: string;
  instance_type: 'container' | 'vm';
  cpu_per_instance: string;
  memory_per_instance: string;
  instance_count: string;
  /** '' the type's default, OTHER a free-form reference (in image), else a catalogue name. */
  catalogue: string;
  image: string;
  service_type: string;
  ports: string;
  volume_size: string;
  disk_size: string;
  env: string;
  ssh_keys: string;
  user_data: string;
  /** A datetime-local value in the browser's zone; '' the cluster does not expire. */
  expires_at: string;
  expire_action: 'stop' | 'delete';
};
const EMPTY: Form = {
  name: '',
  instance_type: 'container',
  cpu_per_instance: '0.5',
  memory_per_instance: '1',
  instance_count: '1',
  catalogue: '',
  image: '',
  service_type: 'ClusterIP',
  ports: '',
  volume_size: '',
  disk_size: '',
  env: '',
  ssh_keys: '',
  user_data: '',
  expires_at: '',
  expire_action: 'stop',
};

const OTHER = '__other';

const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);
const decimal = (s: string) => /^\d+(\.\d+)?$/.test(s.trim()) ? Number(s) : NaN;

/** The request body, and what is wrong with the form by field (the API's own rules). */
export function check(f: Form, catalogue: Image[] = []): { body: Record<string, unknown>; errors: Partial<Record<keyof Form, string>> } {
  const errors: Partial<Record<keyof Form, string>> = {};
  const body: Record<string, unknown> = { name: f.name.trim(), instance_type: f.instance_type };
  const name = f.name.trim();
  if (!name) errors.name = 'A name is needed.';
  else if (name.length > 40) errors.name = `At most 40 characters (this is ${name.length}).`;
  else if (!NAME.test(name)) errors.name = 'Lower-case letters, digits and hyphens, starting and ending with a letter or digit (a DNS-1123 label).';

  const cpu = decimal(f.cpu_per_instance);
  if (!(cpu > 0)) errors.cpu_per_instance = 'A number of cores above 0, such as 0.5.';
  else if (Math.abs(cpu * 1000 - Math.round(cpu * 1000)) > 1e-6) errors.cpu_per_instance = 'In steps of 0.001 core.';
  else if (cpu > 1_000_000) errors.cpu_per_instance = 'Too large.';
  else body.cpu_per_instance = cpu;

  const mem = decimal(f.memory_per_instance);
  if (!(mem > 0)) errors.memory_per_instance = 'A number of GB above 0, such as 1 or 0.5.';
  else if (mem > 1_000_000) errors.memory_per_instance = 'Too large.';
  else body.memory_per_instance = mem;

  const count = /^\d+$/.test(f.instance_count.trim()) ? Number(f.instance_count) : NaN;
  if (!(count >= 1 && count <= 100)) errors.instance_count = 'A whole number from 1 to 100.';
  else body.instance_count = count;

  const chosen = catalogue.find((i) => i.name === f.catalogue && i.kind === f.instance_type);
  if (chosen) {
    body.image = chosen.name;
    // The image's minimums, as the API checks them.
    if (typeof body.cpu_per_instance === 'number' && body.cpu_per_instance < chosen.min_cpu) {
      errors.cpu_per_instance = `At least ${chosen.min_cpu} cores for ${chosen.name}.`;
    }
    if (typeof body.memory_per_instance === 'number' && body.memory_per_instance < chosen.min_memory) {
      errors.memory_per_instance = `At least ${chosen.min_memory} GB for ${chosen.name}.`;
    }
  }
  const image = f.catalogue === OTHER ? f.image.trim() : '';
  if (f.catalogue === OTHER && !image) errors.image = 'An image reference, or choose one from the list.';
  if (image) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(image)) errors.image = 'An image reference (registry/repo:tag), not a URL.';
    else if (image.length > 255 || !IMAGE.test(image)) errors.image = 'An image reference such as registry.example/team/app:1.4 (lower-case repository).';
    else body.image = image;
  }
  if (f.service_type !== 'ClusterIP') body.service_type = f.service_type;

  if (f.ports.trim()) {
    const ports = [];
    for (const part of f.ports.split(/[\s,]+/).filter(Boolean)) {
      const m = /^(?:([a-z0-9-]+)=)?(\d+)(?:\/(tcp|udp))?$/i.exec(part);
      const port = m ? Number(m[2]) : NaN;
      if (!m || !(port >= 1 && port <= 65535)) {
        errors.ports = `"${part}" is not a port: write 8080, 8080/UDP or http=8080.`;
        break;
      }
      if (m[1] && (m[1].length > 15 || !PORT_NAME.test(m[1]))) {
        errors.ports = `Port name "${m[1]}": at most 15 lower-case letters, digits and hyphens.`;
        break;
      }
      ports.push({ port, protocol: (m[3] ?? 'TCP').toUpperCase(), ...(m[1] ? { name: m[1] } : {}) });
    }
    if (ports.length > 16) errors.ports = 'At most 16 ports.';
    if (!errors.ports) body.ports = ports;
  }

  if (f.volume_size.trim()) {
    const v = /^\d+$/.test(f.volume_size.trim()) ? Number(f.volume_size) : NaN;
    if (!(v >= 1 && v <= 16_384)) errors.volume_size = 'Whole GB from 1 to 16384, or empty for none.';
    else body.volume_size = v;
  }

  // VMs: a persistent root disk, by default the catalogue image's default size (as the API decides).
  if (f.instance_type === 'vm' && f.disk_size.trim()) {
    const v = /^\d+$/.test(f.disk_size.trim()) ? Number(f.disk_size) : NaN;
    if (!(v >= 1 && v <= 16_384)) errors.disk_size = 'Whole GB from 1 to 16384, or empty for the image\'s default.';
    else body.disk_size = v;
  } else if (f.instance_type === 'vm' && chosen && chosen.default_disk_gb === null && /^https?:\/\//.test(chosen.source)) {
    errors.disk_size = `${chosen.name} is a disk image from a URL: give a root disk size.`;
  }

  if (f.instance_type === 'container' && f.env.trim()) {
    const env: Record<string, string> = {};
    for (const line of lines(f.env)) {
      const eq = line.indexOf('=');
      const key = eq < 0 ? line : line.slice(0, eq);
      if (eq < 0 || !ENV_NAME.test(key)) {
        errors.env = `"${line}": write NAME=value, with NAME a letter or _ followed by letters, digits or _.`;
        break;
      }
      env[key] = line.slice(eq + 1);
    }
    if (Object.keys(env).length > 64) errors.env = 'At most 64 variables.';
    if (!errors.env) body.env = env;
  }
  if (f.instance_type === 'vm') {
    const keys = lines(f.ssh_keys);
    const bad = keys.find((k) => !SSH_KEY.test(k) || k.length < 16);
    if (bad) errors.ssh_keys = `Not a public SSH key: "${bad.slice(0, 40)}${bad.length > 40 ? '…' : ''}".`;
    else if (keys.length > 32) errors.ssh_keys = 'At most 32 keys.';
    else if (keys.length) body.ssh_keys = keys;
    if (f.user_data.length > 32_768) errors.user_data = 'At most 32768 characters.';
    else if (f.user_data.trim()) body.user_data = f.user_data;
  }
  // Whether the time is in the future is the API's to judge: it refuses a past one with a 422 naming expires_at.
  if (f.expires_at) {
    body.expires_at = toInstant(f.expires_at);
    body.expire_action = f.expire_action;
  }
  return { body, errors };
}

export function CreateClusterPage() {
  const [form, setForm] = useState<Form>(EMPTY);
  const [touched, setTouched] = useState<Partial<Record<keyof Form, boolean>>>({});
  const [submitted, setSubmitted] = useState(false);
  const [apiErrors, setApiErrors] = useState<Partial<Record<string, string>>>({});
  const [error, setError] = useState<unknown>(null);
  const [quota, setQuota] = useState<Quota | null>(null);
  const [catalogue, setCatalogue] = useState<Image[]>([]);
  const [quotaError, setQuotaError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [quote, setQuote] = useState<QuoteAnswer | null>(null);

  useEffect(() => {
    get<Quota>('/api/v1/users/me/quota').then(setQuota, setQuotaError);
    // The catalogue is an offer: without it the form still takes the default image or a reference.
    get<Image[]>('/api/v1/images/').then(setCatalogue, () => setCatalogue([]));
  }, []);

  const { body, errors } = check(form, catalogue);
  const offered = catalogue.filter((i) => i.kind === form.instance_type);
  const shown = (k: keyof Form) => (submitted || touched[k] ? errors[k] : undefined) ?? apiErrors[k];
  const set = (k: keyof Form) => (e: { target: { value: string } }) => {
    setForm({ ...form, [k]: e.target.value });
    setError(null);
    if (apiErrors[k]) setApiErrors({ ...apiErrors, [k]: undefined });
  };
  const blur = (k: keyof Form) => () => setTouched({ ...touched, [k]: true });

  // The preview is the API's own quote of this request (?dry_run=true): what it would reserve and
  // leave, and every reason it would refuse it. Asked again a moment after the form last changed.
  const bodyKey = JSON.stringify(body);
  useEffect(() => {
    let gone = false;
    const t = window.setTimeout(() => {
      api<QuoteAnswer>('POST', '/api/v1/clusters/?dry_run=true', JSON.parse(bodyKey)).then(
        (r) => !gone && setQuote(r.body),
        () => !gone && setQuote(null),
      );
    }, 250);
    return () => {
      gone = true;
      clearTimeout(t);
    };
  }, [bodyKey]);
  const need = quote
    ? { cpu: quote.reservation.cpu, memory: quote.reservation.memory, instances: quote.reservation.instances, storage: quote.reservation.storage_gb, loadBalancers: quote.reservation.load_balancers }
    : { cpu: 0, memory: 0, instances: 0, storage: 0, loadBalancers: 0 };
  const over = quote?.reasons.some((r) => r.code === 'quota') ?? false;

  return (
    <>
      <PageTitle>Create cluster</PageTitle>
      <div className="two-col">
        <form
          className="card form"
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            setSubmitted(true);
            setError(null);
            if (Object.keys(errors).length) {
              const first = Object.keys(errors)[0];
              document.getElementById(`f-${first}`)?.focus();
              return;
            }
            setBusy(true);
            try {
              const c = await post<CreatedCluster>('/api/v1/clusters/', body);
              navigate(`/clusters/${c.id}`);
            } catch (err) {
              setError(err);
              if (err instanceof ApiError) {
                setApiErrors(err.fields);
                const first = Object.keys(err.fields)[0];
                if (first) document.getElementById(`f-${first}`)?.focus();
              }
              setBusy(false);
            }
          }}
        >
          <Alert error={error} />
          <Field id="f-name" label="Name" error={shown('name')} hint="Lower-case letters, digits and hyphens; at most 40.">
            {(a) => <input {...a} value={form.name} onChange={set('name')} onBlur={blur('name')} autoComplete="off" spellCheck={false} maxLength={80} required />}
          </Field>
          <fieldset className="radios">
            <legend>Instance type</legend>
            {(['container', 'vm'] as const).map((t) => (
              <label key={t}>
                <input type="radio" name="instance_type" value={t} checked={form.instance_type === t} onChange={() => { setForm({ ...form, instance_type: t, catalogue: form.catalogue === OTHER ? OTHER : '' }); setError(null); }} />
                {t === 'vm' ? 'Virtual machines' : 'Containers'}
              </label>
            ))}
          </fieldset>
          <div className="row3">
            <Field id="f-cpu_per_instance" label="CPU per instance" error={shown('cpu_per_instance')} hint="cores, e.g. 0.5">
              {(a) => <input {...a} inputMode="decimal" value={form.cpu_per_instance} onChange={set('cpu_per_instance')} onBlur={blur('cpu_per_instance')} />}
            </Field>
            <Field id="f-memory_per_instance" label="Memory per instance" error={shown('memory_per_instance')} hint="GB, e.g. 1">
              {(a) => <input {...a} inputMode="decimal" value={form.memory_per_instance} onChange={set('memory_per_instance')} onBlur={blur('memory_per_instance')} />}
            </Field>
            <Field id="f-instance_count" label="Instance count" error={shown('instance_count')} hint="1 to 100">
              {(a) => <input {...a} inputMode="numeric" value={form.instance_count} onChange={set('instance_count')} onBlur={blur('instance_count')} />}
            </Field>
          </div>
          <Field id="f-catalogue" label="Image" error={shown('catalogue') ?? (form.catalogue !== OTHER ? apiErrors.image : undefined)} hint={offered.length ? 'From the image catalogue.' : undefined}>
            {(a) => (
              <select {...a} value={form.catalogue} onChange={set('catalogue')}>
                <option value="">Default image of the type</option>
                {offered.map((i) => (
                  <option key={i.name} value={i.name}>
                    {i.name}
                    {i.os ? ` (${i.os})` : ''}
                    {i.min_cpu || i.min_memory ? ` — at least ${i.min_cpu} CPU, ${i.min_memory} GB` : ''}
                  </option>
                ))}
                <option value={OTHER}>Another image reference…</option>
              </select>
            )}
          </Field>
          {form.catalogue === OTHER && (
            <Field id="f-image" label="Image reference" error={shown('image')} hint="registry/repository:tag, where the installation allows images outside the catalogue.">
              {(a) => <input {...a} value={form.image} onChange={set('image')} onBlur={blur('image')} spellCheck={false} autoComplete="off" />}
            </Field>
          )}
          <div className="row3">
            <Field id="f-ports" label="Ports (optional)" error={shown('ports')} hint="e.g. 8080, 53/UDP, http=80">
              {(a) => <input {...a} value={form.ports} onChange={set('ports')} onBlur={blur('ports')} spellCheck={false} />}
            </Field>
            <Field id="f-service_type" label="Service type" error={shown('service_type')}>
              {(a) => (
                <select {...a} value={form.service_type} onChange={set('service_type')}>
                  <option>ClusterIP</option>
                  <option>NodePort</option>
                  <option>LoadBalancer</option>
                </select>
              )}
            </Field>
            <Field id="f-volume_size" label="Volume per instance" error={shown('volume_size')} hint="GB, optional">
              {(a) => <input {...a} inputMode="numeric" value={form.volume_size} onChange={set('volume_size')} onBlur={blur('volume_size')} />}
            </Field>
            {form.instance_type === 'vm' && (
              <Field id="f-disk_size" label="Root disk per instance" error={shown('disk_size')} hint="GB, persistent; empty for the image's default">
                {(a) => <input {...a} inputMode="numeric" value={form.disk_size} onChange={set('disk_size')} onBlur={blur('disk_size')} />}
              </Field>
            )}
          </div>
          {form.instance_type === 'container' ? (
            <Field id="f-env" label="Environment (optional)" error={shown('env')} hint="One NAME=value a line.">
              {(a) => <textarea {...a} rows={3} value={form.env} onChange={set('env')} onBlur={blur('env')} spellCheck={false} />}
            </Field>
          ) : (
            <>
              <Field id="f-ssh_keys" label="SSH public keys (optional)" error={shown('ssh_keys')} hint="One key a line.">
                {(a) => <textarea {...a} rows={3} value={form.ssh_keys} onChange={set('ssh_keys')} onBlur={blur('ssh_keys')} spellCheck={false} />}
              </Field>
              <Field id="f-user_data" label="cloud-init user data (optional)" error={shown('user_data')}>
                {(a) => <textarea {...a} rows={4} value={form.user_data} onChange={set('user_data')} spellCheck={false} />}
              </Field>
            </>
          )}
          <div className="row3">
            <Field id="f-expires_at" label="Expires at (optional)" error={shown('expires_at')} hint={`Your time zone (${browserZone()}); empty: never.`}>
              {(a) => <input {...a} type="datetime-local" value={form.expires_at} onChange={set('expires_at')} onBlur={blur('expires_at')} />}
            </Field>
            <Field id="f-expire_action" label="At expiry" error={shown('expire_action')}>
              {(a) => (
                <select {...a} value={form.expire_action} onChange={set('expire_action')} disabled={!form.expires_at}>
                  <option value="stop">stop its instances</option>
                  <option value="delete">delete the cluster</option>
                </select>
              )}
            </Field>
          </div>
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy}>
              {busy ? 'Creating…' : 'Create cluster'}
            </button>
          </div>
        </form>

        <aside className="card preview" aria-labelledby="preview-title" aria-live="polite">
          <h2 id="preview-title">Quota preview</h2>
          {quotaError ? <Alert error={quotaError} /> : null}
          {!quota && !quotaError && <p>Loading quota…</p>}
          {quota && (
            <>
              <p className="small">
                This request uses <strong>{fmt(need.cpu)} CPU</strong>, <strong>{fmt(need.memory)} GB</strong> and <strong>{need.instances} instance(s)</strong>.
              </p>
              <UsageBar label="CPU" used={quota.used_cpu} extra={need.cpu} total={quota.total_cpu} unit="cores" />
              <UsageBar label="Memory" used={quota.used_memory} extra={need.memory} total={quota.total_memory} unit="GB" />
              <UsageBar label="Instances" used={quota.used_instances} extra={need.instances} total={quota.total_instances} unit="" />
              {quota.total_storage_gb !== undefined && (
                <UsageBar label="Storage" used={quota.used_storage_gb ?? 0} extra={need.storage} total={quota.total_storage_gb} unit="GB" />
              )}
              {quota.total_load_balancers !== undefined && (
                <UsageBar label="Load balancers" used={quota.used_load_balancers ?? 0} extra={need.loadBalancers} total={quota.total_load_balancers} unit="" />
              )}
              {quote && (
                <>
                  <p className="small" data-testid="remaining">
                    Would remain: {fmt(quote.remaining.cpu)} CPU, {fmt(quote.remaining.memory)} GB, {quote.remaining.instances} instance(s).
                  </p>
                  <p className="small" data-testid="remaining-storage">
                    Storage: {quote.remaining.storage_gb} GB would remain; load balancers: {quote.remaining.load_balancers}.
                  </p>
                </>
              )}
              {over && <Alert kind="error">This request is over your quota; the API will refuse it. Ask an administrator for more, or ask for less.</Alert>}
              {quote && !quote.allowed && (
                <div data-testid="quote-reasons">
                  <p className="small">The API would refuse it now:</p>
                  <ul className="small">
                    {quote.reasons.map((r, k) => (
                      <li key={k}>{r.loc ? `${r.loc.filter((x) => x !== 'body').join('.')}: ` : ''}{r.message}</li>
                    ))}
                  </ul>
                </div>
              )}
              {quote?.allowed && <p className="small" data-testid="quote-objects">It would apply {quote.objects.length} Kubernetes objects.</p>}
            </>
          )}
        </aside>
      </div>
    </>
  );
}
