/**
 * The backends a store contract suite runs on: an SQLite file in a temporary folder, and a fresh
 * database on the test PostgreSQL server when one is available. Each `database()` is a new, empty one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { SqliteStore } from '../../src/store/index.js';
import { PgStore } from '../../src/store/pg/store.js';
import type { Store } from '../../src/store/ports.js';
import { createTestDatabase, pgAvailable, testServer } from './postgres.js';

export interface Backend {
  name: string;
  database(): Promise<{ connect(): Promise<Store> }>;
}

export async function storeBackends(label: string): Promise<Backend[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sysemail-contract-${label}-`));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  const backends: Backend[] = [
    {
      name: 'sqlite',
      async database() {
        const file = path.join(dir, `c${++files}.db`);
        return { connect: async () => (await SqliteStore.open(file))! };
      },
    },
  ];
  if (await pgAvailable()) {
    const server = (await testServer())!;
    backends.push({
      name: 'postgres',
      async database() {
        const { url } = await createTestDatabase(server, label);
        return { connect: () => PgStore.open(url) };
      },
    });
  }
  return backends;
}
