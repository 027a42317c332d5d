// Putting one object into its rendered form. A forced server-side apply sets
// every field KubeKloud renders (taking back any another writer changed); a
// field another writer added that we do not render (an env var, a sidecar, a
// capability) survives it, so those fields are first handed to our field
// manager and the apply then removes them. One write when nothing was added
// behind our back, three when something was. When what another writer left
// cannot even be merged with the rendered form (a Service port moved to
// another number keeps its name, and the apply would add a second port of
// that name), the apply is refused as invalid: then the fields are handed
// over first, from a fresh read, and the apply removes them.
import { takeOverSpecFields } from '../domain/drift.ts';
import type { KubeObject } from '../domain/render.ts';
import { FIELD_MANAGER, type Kube } from '../kube/client.ts';
import { KubeError } from '../kube/errors.ts';
import type { Claim } from './claims.ts';

/** Applies `obj` and removes what others added to its spec. Returns the Kubernetes writes it took. */
export async function ensureObject(kube: Kube, obj: KubeObject, claim: Claim): Promise<number> {
  let live;
  try {
    live = await kube.apply(obj, { timeoutMs: claim.timeoutMs() });
  } catch (err) {
    if (!(err instanceof KubeError && err.reason === 'invalid')) throw err;
    const current = await kube.get(obj, { timeoutMs: claim.timeoutMs() });
    if (!current || !takeOverSpecFields(current, FIELD_MANAGER)) throw err;
    return 1 + (await takeBack(kube, obj, current, claim));
  }
  return 1 + (await takeBack(kube, obj, live, claim));
}

/** Hands the spec fields other writers own in `live` to our field manager, and applies again to remove them (0 writes when there are none). */
async function takeBack(kube: Kube, obj: KubeObject, live: Awaited<ReturnType<Kube['apply']>>, claim: Claim): Promise<number> {
  const entries = takeOverSpecFields(live, FIELD_MANAGER);
  if (!entries) return 0;
  const rv = live.metadata?.resourceVersion ?? '';
  try {
    await kube.replaceManagedFields(obj, rv, entries, { timeoutMs: claim.timeoutMs() });
  } catch (err) {
    // Changed again since our apply (the resourceVersion test failed): try again later.
    if (err instanceof KubeError && (err.reason === 'invalid' || err.reason === 'conflict' || err.reason === 'rejected')) {
      throw new KubeError('conflict', `${obj.kind} ${obj.metadata.name} changed while its fields were taken back: ${err.message}`, err.code);
    }
    throw err;
  }
  await kube.apply(obj, { timeoutMs: claim.timeoutMs() });
  return 2;
}
