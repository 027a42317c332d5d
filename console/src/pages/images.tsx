// The image catalogue: every signed-in user sees the images clusters may name;
// admins add one (the API checks its source and says what is wrong beside the
// field), and retire or offer one again.
import { useEffect, useState } from 'react';
import { ApiError, get, patch, post, type Image } from '../api.ts';
import { Alert, confirmThenRun, Field, fmt, PageTitle, when } from '../ui.tsx';

const NAME = /^[a-z0-9]+([._-][a-z0-9]+)*$/;
type Form = { name: string; kind: 'vm' | 'container'; source: string; default_disk_gb: string; min_cpu: string; min_memory: string; os: string };
const EMPTY: Form = { name: '', kind: 'container', source: '', default_disk_gb: '', min_cpu: '', min_memory: '', os: '' };

/** The request body and what is wrong with the form by field; the source itself is judged by the API. */
function check(f: Form): { body: Record<string, unknown>; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const body: Record<string, unknown> = { name: f.name.trim(), kind: f.kind, source: f.source.trim() };
  if (!NAME.test(f.name.trim()) || f.name.trim().length > 63) errors.name = 'Up to 63 lower-case letters and digits, with . _ - between them.';
  if (!f.source.trim()) errors.source = f.kind === 'vm' ? 'docker://registry/repo:tag or an http(s):// URL of a disk image.' : 'An image reference such as registry.example/team/app:1.4.';
  const number = (k: 'default_disk_gb' | 'min_cpu' | 'min_memory', whole: boolean, msg: string) => {
    const raw = f[k].trim();
    if (!raw) return;
    const n = (whole ? /^\d+$/ : /^\d+(\.\d+)?$/).test(raw) ? Number(raw) : NaN;
    if (!(n >= (k === 'default_disk_gb' ? 1 : 0))) errors[k] = msg;
    else body[k] = n;
  };
  number('default_disk_gb', true, 'Whole GB from 1, or empty.');
  number('min_cpu', false, 'Cores, such as 0.5, or empty for none.');
  number('min_memory', false, 'GB, such as 1, or empty for none.');
  if (f.os.trim()) body.os = f.os.trim();
  return { body, errors };
}

export function ImagesPage(props: { isAdmin: boolean }) {
  const [images, setImages] = useState<Image[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [form, setForm] = useState<Form>(EMPTY);
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const [formError, setFormError] = useState<unknown>(null);

  const load = () => get<Image[]>(`/api/v1/images/${props.isAdmin ? '?include_retired=true' : ''}`).then(setImages, setError);
  useEffect(() => {
    void load();
  }, []);
  const set = (k: keyof Form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });

  return (
    <>
      <PageTitle>Images</PageTitle>
      <p>Clusters name one of these images when they are created. A cluster keeps the source it started with, whatever changes here later.</p>
      {props.isAdmin && (
        <form
          className="card inline-form"
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            setFormError(null);
            const { body, errors: errs } = check(form);
            setErrors(errs);
            if (Object.keys(errs).length) return;
            try {
              const created = await post<Image>('/api/v1/images/', body);
              setNotice(`Image ${created.name} added.`);
              setForm(EMPTY);
              void load();
            } catch (err) {
              setFormError(err);
              if (err instanceof ApiError) setErrors(err.fields);
            }
          }}
        >
          <h2 className="sr-only">Add an image</h2>
          <Field id="img-name" label="Name" error={errors.name}>
            {(a) => <input {...a} value={form.name} onChange={set('name')} autoComplete="off" spellCheck={false} />}
          </Field>
          <Field id="img-kind" label="Kind" error={errors.kind}>
            {(a) => (
              <select {...a} value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value as Form['kind'] })}>
                <option value="container">container</option>
                <option value="vm">vm</option>
              </select>
            )}
          </Field>
          <Field id="img-source" label="Source" error={errors.source}>
            {(a) => <input {...a} value={form.source} onChange={set('source')} autoComplete="off" spellCheck={false} />}
          </Field>
          <Field id="img-disk" label="Default disk (GB)" error={errors.default_disk_gb}>
            {(a) => <input {...a} inputMode="numeric" value={form.default_disk_gb} onChange={set('default_disk_gb')} />}
          </Field>
          <Field id="img-min-cpu" label="Minimum CPU (cores)" error={errors.min_cpu}>
            {(a) => <input {...a} inputMode="decimal" value={form.min_cpu} onChange={set('min_cpu')} />}
          </Field>
          <Field id="img-min-memory" label="Minimum memory (GB)" error={errors.min_memory}>
            {(a) => <input {...a} inputMode="decimal" value={form.min_memory} onChange={set('min_memory')} />}
          </Field>
          <Field id="img-os" label="OS (optional)" error={errors.os}>
            {(a) => <input {...a} value={form.os} onChange={set('os')} placeholder="linux" />}
          </Field>
          <button type="submit" className="primary">
            Add image
          </button>
          <Alert error={formError} />
        </form>
      )}
      <Alert error={error} />
      {notice && <Alert kind="ok">{notice}</Alert>}
      {images && images.length === 0 && <p>The catalogue is empty{props.isAdmin ? '' : ': clusters use the default image of their type'}.</p>}
      {images && images.length > 0 && (
        <div className="table-wrap">
          <table className="list">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Source</th>
                <th scope="col">OS</th>
                <th scope="col">Minimum</th>
                <th scope="col">Default disk</th>
                {props.isAdmin && (
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {images.map((i) => (
                <tr key={i.id} data-image={i.name} className={i.retired ? 'muted' : undefined}>
                  <th scope="row" data-label="Name">
                    {i.name}
                    {i.retired && <div className="small muted">retired {when(i.retired_at)}</div>}
                  </th>
                  <td data-label="Kind">{i.kind === 'vm' ? 'VM' : 'container'}</td>
                  <td data-label="Source">
                    <code>{i.source}</code>
                  </td>
                  <td data-label="OS">{i.os ?? ''}</td>
                  <td data-label="Minimum">
                    {fmt(i.min_cpu)} CPU, {fmt(i.min_memory)} GB
                  </td>
                  <td data-label="Default disk">{i.default_disk_gb === null ? '' : `${i.default_disk_gb} GB`}</td>
                  {props.isAdmin && (
                    <td className="actions">
                      {i.retired ? (
                        <button
                          type="button"
                          className="small"
                          aria-label={`Offer ${i.name} again`}
                          onClick={() =>
                            patch<Image>(`/api/v1/images/${i.name}`, { retired: false }).then(() => {
                              setNotice(`Image ${i.name} is offered again.`);
                              void load();
                            }, setError)
                          }
                        >
                          Offer again
                        </button>
                      ) : (
                        <button
                          type="button"
                          className="small danger"
                          aria-label={`Retire ${i.name}`}
                          onClick={() =>
                            confirmThenRun({
                              title: `Retire image ${i.name}?`,
                              body: <p>New clusters can no longer use it. Clusters already using it keep running.</p>,
                              action: 'Retire',
                              run: () => post(`/api/v1/images/${i.name}/retire`, undefined),
                              done: `Image ${i.name} retired.`,
                              setNotice,
                              setError,
                              reload: load,
                            })
                          }
                        >
                          Retire
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
