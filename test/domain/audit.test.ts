import { describe, expect, it } from 'vitest';
import { auditAction, auditResourceOf } from '../../src/domain/audit.ts';

describe('auditAction', () => {
  it.each([
    ['POST', '/api/v1/clusters/', 'clusters.create'],
    ['PATCH', '/api/v1/clusters/:id', 'clusters.update'],
    ['DELETE', '/api/v1/clusters/:id', 'clusters.delete'],
    ['POST', '/api/v1/instances/:id/operate', 'instances.operate'],
    ['POST', '/api/v1/instances/:id/snapshots', 'snapshots.create'],
    ['POST', '/api/v1/instances/:id/snapshots/:snapshot_id/restore', 'snapshots.restore'],
    ['POST', '/api/v1/users/me/tokens', 'tokens.create'],
    ['DELETE', '/api/v1/users/:id/tokens/:token_id', 'tokens.delete'],
    ['GET', '/api/v1/instances/:id/vnc', 'vnc.open'],
    ['PATCH', '/api/v1/images/:name', 'images.update'],
  ])('%s %s is %s', (method, route, action) => {
    expect(auditAction(method, route)).toBe(action);
  });
});

describe('auditResourceOf', () => {
  it('reads a kind and an optional id or name, and nothing else', () => {
    expect(auditResourceOf('clusters/12')).toEqual({ routePrefix: '/api/v1/clusters', target: '12' });
    expect(auditResourceOf('images')).toEqual({ routePrefix: '/api/v1/images', target: null });
    expect(auditResourceOf('secrets/1')).toBeNull();
    expect(auditResourceOf('clusters/1/../x')).toBeNull();
  });
});
