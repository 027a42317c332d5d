import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8000);
    expect(c.metricsPort).toBe(9090);
    expect(c.databaseUrl).toBeNull();
    expect(c.allowNodePort).toBe(false);
    // Free-form images stay allowed unless an operator confines tenants to the catalogue.
    expect(c.allowFreeformImages).toBe(true);
    expect(loadConfig({ KUBEKLOUD_ALLOW_FREEFORM_IMAGES: 'false' }).allowFreeformImages).toBe(false);
    expect(() => loadConfig({ KUBEKLOUD_ALLOW_FREEFORM_IMAGES: 'maybe' })).toThrow(/KUBEKLOUD_ALLOW_FREEFORM_IMAGES="maybe" must be true or false/);
  });
  it('serves metrics on KUBEKLOUD_METRICS_PORT, not on the API port; 0 turns the listener off', () => {
    expect(loadConfig({ KUBEKLOUD_METRICS_PORT: '9191' }).metricsPort).toBe(9191);
    expect(loadConfig({ KUBEKLOUD_METRICS_PORT: '0' }).metricsPort).toBe(0);
    expect(loadConfig({ PORT: '0', KUBEKLOUD_METRICS_PORT: '0' }).metricsPort).toBe(0);
    expect(() => loadConfig({ PORT: '9000', KUBEKLOUD_METRICS_PORT: '9000' })).toThrow(/KUBEKLOUD_METRICS_PORT must differ from PORT/);
    expect(() => loadConfig({ KUBEKLOUD_METRICS_PORT: '70000' })).toThrow(/KUBEKLOUD_METRICS_PORT/);
  });
  it('names every problem on a line of its own', () => {
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', KUBEKLOUD_ADMIN_TOKEN: 'short', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const lines = (err as Error).message.split('\n');
      expect(lines).toHaveLength(4);
      expect(lines.join('\n')).toContain('PORT');
      expect(lines.join('\n')).toContain('DATABASE_URL');
      expect(lines.join('\n')).toContain('KUBEKLOUD_ADMIN_TOKEN must be at least 16 characters');
      expect(lines.join('\n')).toContain('LOG_LEVEL');
    }
  });
  it('caps per user, with defaults', () => {
    expect(loadConfig({}).caps).toEqual({ tokensPerUser: 50, eventStreamsPerUser: 10, waitsPerUser: 10 });
    expect(loadConfig({ KUBEKLOUD_MAX_WAITS_PER_USER: '3' }).caps.waitsPerUser).toBe(3);
    expect(() => loadConfig({ KUBEKLOUD_MAX_TOKENS_PER_USER: '0' })).toThrow(/KUBEKLOUD_MAX_TOKENS_PER_USER="0" must be a whole number from 1/);
  });
  it('trusts no proxy unless told; takes true, a hop count or addresses and ranges, and names what it cannot read', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ KUBEKLOUD_TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ KUBEKLOUD_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ KUBEKLOUD_TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ KUBEKLOUD_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,fd00::/8' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
    expect(() => loadConfig({ KUBEKLOUD_TRUST_PROXY: '0' })).toThrow(/KUBEKLOUD_TRUST_PROXY="0": a hop count must be from 1 to 100/);
    expect(() => loadConfig({ KUBEKLOUD_TRUST_PROXY: '10.0.0.0/33,proxy.local' })).toThrow(
      /KUBEKLOUD_TRUST_PROXY: "10.0.0.0\/33", "proxy.local" are not an IP address or CIDR range/,
    );
  });
});
