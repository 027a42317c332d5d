// The audit log (src/service/audit.ts over src/store/audit.ts) on PostgreSQL and
// PGlite: one row per recorded request, its outcome told by its status code.
import { describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/service/audit.ts';
import { BACKENDS, useStore } from '../support/stores.ts';

describe.each(BACKENDS)('audit log on %s', (backend) => {
  const s = useStore(backend, 'audit_log RESTART IDENTITY');
  const entry = { actorId: 3, actor: 'alice', method: 'POST', route: '/api/v1/clusters/', target: null, requestId: 'req-1' };
  const rows = () => s.db.query('SELECT actor_id, actor, method, route, target, status_code, outcome, request_id, at FROM audit_log ORDER BY id');

  it('records who did what, on what, and how it ended', async () => {
    await recordAudit(s.db, { ...entry, method: 'DELETE', route: '/api/v1/clusters/:id', target: '42', statusCode: 200 });
    const [row] = await rows();
    expect(row).toMatchObject({
      actor_id: 3,
      actor: 'alice',
      method: 'DELETE',
      route: '/api/v1/clusters/:id',
      target: '42',
      status_code: 200,
      outcome: 'success',
      request_id: 'req-1',
    });
    expect(row!.at).toBeInstanceOf(Date);
  });

  it('tells success, refusal and failure apart by status code', async () => {
    for (const statusCode of [201, 302, 400, 409, 499, 500, 503]) await recordAudit(s.db, { ...entry, statusCode });
    expect((await rows()).map((r) => [r.status_code, r.outcome])).toEqual([
      [201, 'success'],
      [302, 'success'],
      [400, 'rejected'],
      [409, 'rejected'],
      [499, 'rejected'],
      [500, 'error'],
      [503, 'error'],
    ]);
  });

  it('records a request nobody was authenticated for', async () => {
    await recordAudit(s.db, { ...entry, actorId: null, actor: null, statusCode: 401 });
    expect(await rows()).toMatchObject([{ actor_id: null, actor: null, outcome: 'rejected' }]);
  });
});
