// The cluster event sequence (src/service/events.ts) on PostgreSQL and PGlite,
// without a server: the generator is driven directly. First the whole cluster;
// one instance event per changed instance; `deleted` ends it; an abort ends it
// and lets go of the feed; a database outage yields `unavailable` and goes on;
// keep-alives and the periodic re-read come on their own clocks. The SSE wire
// format and the shared poll through a real server are test/e2e/events.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import type { DomainError } from '../../src/domain/errors.ts';
import { createChangeFeed, type ChangeFeed } from '../../src/service/changeFeed.ts';
import type { Principal, Services } from '../../src/service/context.ts';
import { clusterEvents, type ClusterEvent, type ClusterEventOptions } from '../../src/service/events.ts';
import type { Db } from '../../src/store/db.ts';
import { BACKENDS, seedCluster, seedUser, useStore } from '../support/stores.ts';

/** A feed the test drives: `change(id)` is what the shared poll does when a fingerprint moves. */
function manualFeed() {
  const watchers = new Map<number, Set<() => void>>();
  return {
    subscribe(id: number, fn: () => void) {
      let set = watchers.get(id);
      if (!set) watchers.set(id, (set = new Set()));
      set.add(fn);
      return () => void set!.delete(fn);
    },
    stop() {},
    change(id: number) {
      for (const fn of watchers.get(id) ?? []) fn();
    },
    watching: (id: number) => watchers.get(id)?.size ?? 0,
  } satisfies ChangeFeed & Record<string, unknown>;
}

/** Rejects if `p` has not settled within `ms` (so a hanging generator fails the test, naming what it waited for). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

const next = async (events: AsyncGenerator<ClusterEvent>, what = 'event', ms = 5000) => {
  const r = await within(events.next(), ms, what);
  return r.done ? null : r.value;
};

describe.each(BACKENDS)('cluster events on %s', (backend) => {
  const s = useStore(backend, 'users, clusters, instances RESTART IDENTITY CASCADE');
  let services: Services;
  /** When true, every query of `services` fails as if the database were out of reach. */
  let databaseDown = false;
  beforeAll(() => {
    const db = new Proxy(s.db, {
      get(target, key, receiver) {
        if (databaseDown && (key === 'query' || key === 'transaction')) return async () => Promise.reject(new Error('connect ECONNREFUSED'));
        const v = Reflect.get(target, key, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Db;
    services = { db, config: loadConfig({}), wake: () => {} };
    databaseDown = false;
  });

  async function watched(instances = 2) {
    const userId = await seedUser(s.db);
    const p: Principal = { userId, username: `u${userId}`, role: 'user', tokenId: 0, scopes: ['read', 'write'], clusterIds: null };
    const { clusterId, instanceIds } = await seedCluster(s.db, userId, instances);
    return { p, clusterId, instanceIds };
  }

  function stream(p: Principal, clusterId: number, opts: Partial<ClusterEventOptions> = {}) {
    const ctl = new AbortController();
    const feed = opts.feed ?? manualFeed();
    const events = clusterEvents(services, p, clusterId, { signal: ctl.signal, feed, heartbeatMs: 60_000, rereadMs: 60_000, ...opts });
    return { events, ctl };
  }

  it('starts with the whole cluster, its instances included', async () => {
    const { p, clusterId, instanceIds } = await watched(2);
    const { events, ctl } = stream(p, clusterId);
    const first = await next(events);
    expect(first).toMatchObject({ type: 'cluster', data: { id: clusterId, instance_count: 2 } });
    expect((first as Extract<ClusterEvent, { type: 'cluster' }>).data.instances.map((i) => i.id)).toEqual(instanceIds);
    ctl.abort();
    expect(await next(events, 'end')).toBeNull();
  });

  it('refuses a cluster the caller may not see before yielding anything, and watches nothing', async () => {
    const { clusterId } = await watched(1);
    const otherId = await seedUser(s.db);
    const feed = manualFeed();
    const { events } = stream({ userId: otherId, username: 'other', role: 'user', tokenId: 0, scopes: ['read', 'write'], clusterIds: null }, clusterId, { feed });
    await expect(events.next()).rejects.toMatchObject({ kind: 'not_found' } satisfies Partial<DomainError>);
    expect(feed.watching(clusterId)).toBe(0);
  });

  it('yields one instance event when one instance changes, and nothing for a change nobody can see', async () => {
    const { p, clusterId, instanceIds } = await watched(2);
    const feed = manualFeed();
    let reads = 0;
    const { events, ctl } = stream(p, clusterId, { feed, onRead: () => reads++ });
    await next(events);
    await s.db.query("UPDATE instances SET ip = '10.1.2.3', updated_at = now() WHERE id = $1", [instanceIds[1]]);
    feed.change(clusterId);
    expect(await next(events, 'instance event')).toMatchObject({ type: 'instance', data: { id: instanceIds[1], ip: '10.1.2.3' } });
    // Another signal with nothing new: a read, but no event. Then the abort ends the sequence with nothing more.
    feed.change(clusterId);
    const pending = events.next();
    await new Promise((r) => setTimeout(r, 200));
    expect(reads).toBe(2);
    ctl.abort();
    expect(await within(pending, 5000, 'end')).toEqual({ done: true, value: undefined });
  });

  it('yields a cluster event when the cluster changes size', async () => {
    const { p, clusterId } = await watched(1);
    const feed = manualFeed();
    const { events, ctl } = stream(p, clusterId, { feed });
    await next(events);
    await s.db.query('UPDATE clusters SET instance_count = 3, updated_at = now() WHERE id = $1', [clusterId]);
    feed.change(clusterId);
    expect(await next(events, 'cluster event')).toMatchObject({ type: 'cluster', data: { id: clusterId, instance_count: 3 } });
    ctl.abort();
    expect(await next(events, 'end')).toBeNull();
  });

  it('yields a cluster event when its live change moves on, with nothing else changed', async () => {
    const { p, clusterId } = await watched(1);
    const feed = manualFeed();
    const { events, ctl } = stream(p, clusterId, { feed });
    await next(events);
    await s.db.query("UPDATE clusters SET rollout_state = 'rolling', rollout_updated = 0, rollout_total = 1, spec_gen = 2, updated_at = now() WHERE id = $1", [clusterId]);
    feed.change(clusterId);
    expect(await next(events, 'cluster event')).toMatchObject({ type: 'cluster', data: { id: clusterId, rollout: { state: 'rolling', updated: 0 } } });
    await s.db.query("UPDATE clusters SET rollout_state = 'done', rollout_updated = 1, updated_at = now() WHERE id = $1", [clusterId]);
    feed.change(clusterId);
    expect(await next(events, 'cluster event')).toMatchObject({ type: 'cluster', data: { id: clusterId, rollout: { state: 'done', updated: 1 } } });
    ctl.abort();
    expect(await next(events, 'end')).toBeNull();
  });

  it('yields deleted once the cluster is gone, and ends (through the shared poll)', async () => {
    const { p, clusterId } = await watched(1);
    const feed = createChangeFeed(s.db, { pollMs: 20 });
    try {
      const { events } = stream(p, clusterId, { feed });
      await next(events);
      await s.db.query('DELETE FROM instances WHERE cluster_id = $1', [clusterId]);
      await s.db.query('DELETE FROM clusters WHERE id = $1', [clusterId]);
      let e = await next(events, 'deleted');
      // The poll may see the instances' removal before the cluster's.
      while (e?.type === 'cluster' || e?.type === 'instance') e = await next(events, 'deleted');
      expect(e).toEqual({ type: 'deleted', data: { id: clusterId } });
      expect(await next(events, 'end')).toBeNull();
    } finally {
      feed.stop();
    }
  });

  it('ends at once when aborted while waiting, and lets go of the feed', async () => {
    const { p, clusterId } = await watched(1);
    const feed = manualFeed();
    const { events, ctl } = stream(p, clusterId, { feed });
    await next(events);
    expect(feed.watching(clusterId)).toBe(1);
    const pending = events.next(); // waits: no change, keep-alive and re-read a minute away
    await new Promise((r) => setTimeout(r, 50));
    const aborted = performance.now();
    ctl.abort();
    expect(await within(pending, 1000, 'end')).toEqual({ done: true, value: undefined });
    expect(performance.now() - aborted).toBeLessThan(500);
    expect(feed.watching(clusterId)).toBe(0);
  });

  it('lets go of the feed when the consumer stops early (return)', async () => {
    const { p, clusterId } = await watched(1);
    const feed = manualFeed();
    const { events } = stream(p, clusterId, { feed });
    await next(events);
    await events.return(undefined);
    expect(feed.watching(clusterId)).toBe(0);
  });

  it('yields unavailable while the database is out of reach and goes on once it is back', async () => {
    const { p, clusterId, instanceIds } = await watched(1);
    const feed = manualFeed();
    const { events, ctl } = stream(p, clusterId, { feed });
    await next(events);
    databaseDown = true;
    try {
      feed.change(clusterId);
      expect(await next(events, 'unavailable')).toEqual({ type: 'unavailable' });
      feed.change(clusterId);
      expect(await next(events, 'unavailable')).toEqual({ type: 'unavailable' });
    } finally {
      databaseDown = false;
    }
    await s.db.query("UPDATE instances SET node = 'node-2', updated_at = now() WHERE id = $1", [instanceIds[0]]);
    feed.change(clusterId);
    expect(await next(events, 'instance event')).toMatchObject({ type: 'instance', data: { id: instanceIds[0], node: 'node-2' } });
    ctl.abort();
    expect(await next(events, 'end')).toBeNull();
  });

  it('keeps alive when nothing was yielded for the heartbeat interval', async () => {
    const { p, clusterId } = await watched(1);
    const { events, ctl } = stream(p, clusterId, { heartbeatMs: 100 });
    await next(events);
    const started = performance.now();
    expect(await next(events, 'keepalive')).toEqual({ type: 'keepalive' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    ctl.abort();
    expect(await next(events, 'end')).toBeNull();
  });

  it('reads again on its own clock when the feed says nothing (the safety net)', async () => {
    const { p, clusterId, instanceIds } = await watched(1);
    const { events, ctl } = stream(p, clusterId, { rereadMs: 100 });
    await next(events);
    await s.db.query("UPDATE instances SET ip = '10.9.9.9', updated_at = now() WHERE id = $1", [instanceIds[0]]);
    expect(await next(events, 'instance event')).toMatchObject({ type: 'instance', data: { id: instanceIds[0], ip: '10.9.9.9' } });
    ctl.abort();
    expect(await next(events, 'end')).toBeNull();
  });
});
