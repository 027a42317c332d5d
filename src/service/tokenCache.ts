// Token lookups served from memory, so that an authenticated read costs one
// round trip to the database (its own query), not two. Bounded (the least
// recently used entry goes first), each entry looked up again after
// `ttlMs` whatever happens, an expired token never served, and the whole cache
// cleared whenever access changes anywhere (src/service/notifications.ts
// hears it from every replica). While notifications are down nothing is
// cached or served: a change could go unheard.
import type { TokenLookup } from '../store/tokens.ts';

export class TokenCache {
  private readonly entries = new Map<string, { lookup: TokenLookup; cachedAt: number }>();
  /** Moves on every clear: a lookup that began before a clear must not be kept after it. */
  private generation = 0;

  constructor(
    private readonly max = 10_000,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  get(hash: string): TokenLookup | undefined {
    const e = this.entries.get(hash);
    if (!e) return undefined;
    const expires = e.lookup.token.expires_at;
    if (this.now() - e.cachedAt > this.ttlMs || (expires && expires.getTime() <= this.now())) {
      this.entries.delete(hash);
      return undefined;
    }
    // Most recently used last: the first in the map is the one to evict.
    this.entries.delete(hash);
    this.entries.set(hash, e);
    return e.lookup;
  }

  /** Call before the lookup whose answer `put` will keep. */
  begin(): number {
    return this.generation;
  }

  /** Keeps `lookup` unless the cache was cleared since `begin` returned `generation`. */
  put(hash: string, lookup: TokenLookup, generation: number): void {
    if (generation !== this.generation) return;
    this.entries.delete(hash);
    this.entries.set(hash, { lookup, cachedAt: this.now() });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
