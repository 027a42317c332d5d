import { describe, expect, it } from 'vitest';
import { CLUSTER_NAME_MAX, clusterNameProblem, clusterNamespace, instanceName } from '../../src/domain/naming.ts';

describe('cluster names', () => {
  it('accepts DNS-1123 labels up to the limit', () => {
    expect(clusterNameProblem('web')).toBeNull();
    expect(clusterNameProblem('a-1-b')).toBeNull();
    expect(clusterNameProblem('x'.repeat(CLUSTER_NAME_MAX))).toBeNull();
  });
  it.each([
    ['', 'must not be empty'],
    ['Web', 'DNS-1123'],
    ['-web', 'DNS-1123'],
    ['web-', 'DNS-1123'],
    ['we_b', 'DNS-1123'],
    ['web.app', 'DNS-1123'],
    ['x'.repeat(CLUSTER_NAME_MAX + 1), 'at most 40'],
  ])('rejects %j naming the rule', (name, rule) => {
    expect(clusterNameProblem(name)).toContain(rule);
  });
});

describe('derived names', () => {
  it('gives every cluster a namespace unique by id, within 63 characters', () => {
    expect(clusterNamespace('kk', 7, 'web')).toBe('kk-7-web');
    expect(clusterNamespace('kk', 8, 'web')).not.toBe(clusterNamespace('kk', 7, 'web'));
    const longest = clusterNamespace('abcdefgh', 2_147_483_647, 'x'.repeat(CLUSTER_NAME_MAX));
    expect(longest.length).toBeLessThanOrEqual(63);
    expect(longest).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
  it('names instances after their cluster and ordinal', () => {
    expect(instanceName('web', 3)).toBe('web-3');
  });
});
