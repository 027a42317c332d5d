// The layout is part of the product (docs/ARCHITECTURE.md › Where things
// live): every SQL statement in src/store, layers that import only downwards,
// no import cycles, and clients (CLI, web console) that take only types from
// the server. The import rules are .dependency-cruiser.cjs.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/kube.ts';

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.tsx?$/.test(name)) out.push(p);
  }
  return out;
}

// A statement, as written in a string: a verb and the word that must follow it.
const SQL = /\b(SELECT\s[\s\S]*?\bFROM\b|INSERT\s+INTO\b|UPDATE\s+\w+\s+(?:AS\s+\w+\s+)?SET\b|DELETE\s+FROM\b|CREATE\s+(?:TABLE|INDEX)\b|ALTER\s+TABLE\b|pg_advisory)/;

/** String literals and template literals of a TypeScript source, comments left out. */
function strings(source: string): string[] {
  const out: string[] = [];
  const re = /\/\/[^\n]*|\/\*[\s\S]*?\*\/|`(?:\\[\s\S]|[^`\\])*`|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"/g;
  for (const m of source.matchAll(re)) if (!m[0].startsWith('/')) out.push(m[0]);
  return out;
}

describe('where SQL lives', () => {
  it('finds a statement in a string when there is one', () => {
    expect(strings("const q = 'SELECT id FROM users'; // SELECT x FROM y").some((s) => SQL.test(s))).toBe(true);
    expect(strings('db.query(`UPDATE instances SET x = 1`)').some((s) => SQL.test(s))).toBe(true);
    expect(strings("const s = 'Select a cluster from the list'; // DELETE FROM x").some((s) => SQL.test(s))).toBe(false);
  });

  it('every SQL statement is in src/store', () => {
    const outside = files(join(repoRoot, 'src'))
      .filter((f) => !relative(repoRoot, f).startsWith('src/store/'))
      .flatMap((f) => strings(readFileSync(f, 'utf8')).filter((s) => SQL.test(s)).map((s) => `${relative(repoRoot, f)}: ${s.slice(0, 80)}`));
    expect(outside).toEqual([]);
  });
});

describe('imports', () => {
  type Violation = { from: string; to: string; rule: { name: string }; cycle?: { name: string }[] };
  const cruise = (...paths: string[]): Violation[] => {
    const bin = join(repoRoot, 'node_modules', '.bin', 'depcruise');
    const out = execFileSync(bin, ['--config', '.dependency-cruiser.cjs', '--output-type', 'json', ...paths], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return (JSON.parse(out) as { summary: { violations: Violation[] } }).summary.violations;
  };

  it('follow the layers, with no cycle, and clients take only types from the server', () => {
    const found = cruise('src', 'console/src').map((v) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (${v.cycle.map((c) => c.name).join(' → ')})` : ''}`);
    expect(found).toEqual([]);
  });
});
