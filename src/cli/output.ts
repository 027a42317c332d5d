// Output formats: table (for people), json and yaml (for scripts).
export type Format = 'table' | 'json' | 'yaml';
export const FORMATS: Format[] = ['table', 'json', 'yaml'];

/** A column: header and how to read it from a row. */
export type Column<T> = [header: string, get: (row: T) => unknown];

export function render<T>(data: T | T[], format: Format, columns: Column<T>[]): string {
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  if (format === 'yaml') return toYaml(data);
  return table(Array.isArray(data) ? data : [data], columns);
}

export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = [columns.map(([h]) => h), ...rows.map((r) => columns.map(([, get]) => cell(get(r))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.length ? v.map(cell).join(',') : '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v).replace(/\s+/g, ' ');
}

/** Key/value lines for one object: `Key:   value`. */
export function details(pairs: [string, unknown][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(w)}  ${cell(v)}`).join('\n') + '\n';
}

// --- YAML: a small emitter for JSON values -----------------------------------

const PLAIN = /^[A-Za-z_./][A-Za-z0-9_ ./@:+-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function scalar(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  const s = String(v);
  if (s !== '' && PLAIN.test(s) && !RESERVED.test(s) && !/: |:$| #|^[-?:]|\s$/.test(s) && Number.isNaN(Number(s))) return s;
  return JSON.stringify(s); // a JSON string is a valid double-quoted YAML scalar
}

function key(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k);
}

function isEmptyish(v: unknown): boolean {
  return v === null || typeof v !== 'object' || (Array.isArray(v) ? v.length === 0 : Object.keys(v as object).length === 0);
}

function inline(v: unknown): string {
  if (Array.isArray(v)) return '[]';
  if (v !== null && typeof v === 'object') return '{}';
  return scalar(v);
}

function lines(v: unknown, indent: string): string[] {
  if (Array.isArray(v)) {
    return v.flatMap((item) => {
      if (isEmptyish(item)) return [`${indent}- ${inline(item)}`];
      const [first, ...rest] = lines(item, `${indent}  `);
      return [`${indent}- ${first!.slice(indent.length + 2)}`, ...rest];
    });
  }
  if (v !== null && typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>).flatMap(([k, val]) =>
      isEmptyish(val) ? [`${indent}${key(k)}: ${inline(val)}`] : [`${indent}${key(k)}:`, ...lines(val, Array.isArray(val) ? indent : `${indent}  `)],
    );
  }
  return [`${indent}${scalar(v)}`];
}

export function toYaml(v: unknown): string {
  if (isEmptyish(v)) return `${inline(v)}\n`;
  return `${lines(v, '').join('\n')}\n`;
}
