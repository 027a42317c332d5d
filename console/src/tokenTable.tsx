// A list of tokens (name, when made, expiry, last use, scopes, clusters), each
// with a Revoke button: a person's own tokens, and an admin's view of a user's.
import type { Token } from './api.ts';
import { when } from './ui.tsx';

export function TokenTable(props: { tokens: Token[]; onRevoke: (t: Token) => void; label?: string }) {
  return (
    <div className="table-wrap">
      <table className="list" aria-label={props.label}>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Created</th>
            <th scope="col">Expires</th>
            <th scope="col">Last used</th>
            <th scope="col">Scopes</th>
            <th scope="col">Clusters</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.tokens.map((t) => (
            <tr key={t.id} data-token={t.name}>
              <th scope="row" data-label="Name">{t.name}</th>
              <td data-label="Created">{when(t.created_at)}</td>
              <td data-label="Expires">{t.expires_at ? when(t.expires_at) : 'never'}</td>
              <td data-label="Last used">{t.last_used_at ? when(t.last_used_at) : 'never'}</td>
              <td data-label="Scopes">{(t.scopes ?? []).join(', ')}</td>
              <td data-label="Clusters">{t.cluster_ids ? t.cluster_ids.join(', ') : 'all'}</td>
              <td className="actions">
                <button type="button" className="small danger" aria-label={`Revoke ${t.name}`} onClick={() => props.onRevoke(t)}>
                  Revoke
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
