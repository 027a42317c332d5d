// Statements outside a transaction run prepared (parsed once per connection);
// one prepared before a newer replica's migration changed the columns it
// answers is run again unnamed instead of failing, and statements inside a
// transaction stay unnamed. On PostgreSQL, one connection, so what it has
// prepared is what pg_prepared_statements shows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type TestStore } from '../support/stores.ts';

let s: TestStore;
beforeAll(async () => {
  s = await openStore('postgres', { max: 1 });
  await s.db.query('CREATE TABLE prepared_probe (a int)');
  await s.db.query('INSERT INTO prepared_probe VALUES (1)');
});
afterAll(async () => {
  await s?.close();
});

const preparedTexts = async () => (await s.db.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements WHERE $1', [true])).map((r) => r.statement);

describe('statements outside a transaction', () => {
  it('are prepared once per connection and reused', async () => {
    const text = 'SELECT a FROM prepared_probe WHERE a = $1';
    for (let i = 0; i < 3; i++) expect(await s.db.query(text, [1])).toEqual([{ a: 1 }]);
    expect((await preparedTexts()).filter((t) => t === text)).toHaveLength(1);
  });

  it('answer the new columns after a migration added one, instead of failing on the stale plan', async () => {
    const text = 'SELECT * FROM prepared_probe WHERE a = $1';
    expect(await s.db.query(text, [1])).toEqual([{ a: 1 }]);
    await s.pg!.query('ALTER TABLE prepared_probe ADD COLUMN b int DEFAULT 2'); // another connection: a newer replica's migration
    expect(await s.db.query(text, [1])).toEqual([{ a: 1, b: 2 }]);
    expect(await s.db.query(text, [1])).toEqual([{ a: 1, b: 2 }]);
  });
});

describe('statements inside a transaction', () => {
  it('stay unnamed: a column added meanwhile changes nothing for them', async () => {
    const text = 'SELECT * FROM prepared_probe WHERE a = $1 AND true';
    const inTx = () => s.db.transaction((tx) => tx.query(text, [1]));
    expect(await inTx()).toEqual([{ a: 1, b: 2 }]);
    await s.pg!.query('ALTER TABLE prepared_probe ADD COLUMN c int DEFAULT 3');
    expect(await inTx()).toEqual([{ a: 1, b: 2, c: 3 }]);
    expect(await preparedTexts()).not.toContain(text);
  });
});
