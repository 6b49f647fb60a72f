// `npm start`'s process against a real database: it serves, then on SIGTERM stops taking
// requests, lets in-flight ones finish (their usage is committed), and exits 0.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { freePort } from '../server/src/db/embedded';
import { freshDatabase, OPERATOR_KEY } from './support/harness';

let child: ChildProcess | null = null;
afterAll(() => {
  child?.kill('SIGKILL');
});

async function waitFor(url: string, ms = 30_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

it('serves, and on SIGTERM finishes in-flight requests, then exits 0', async () => {
  const url = await freshDatabase('shutdown');
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tally-'));
  child = spawn(process.execPath, ['--import', 'tsx', 'server/src/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: url,
      PORT: String(port),
      TALLY_OPERATOR_KEY: OPERATOR_KEY,
      TALLY_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child?.on('exit', (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/readyz`);
  expect((await fetch(`${base}/healthz`)).status).toBe(200);

  const gql = (key: string, query: string, variables?: unknown) =>
    fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    }).then((r) => r.json() as Promise<{ data?: any; errors?: unknown[] }>);
  const t = await gql(
    OPERATOR_KEY,
    'mutation { createTenant(input: { name: "s" }) { secret apiKey { tenant { id } } } }',
  );
  const key = t.data.createTenant.secret as string;
  const items = (n: number, p: string) =>
    Array.from({ length: n }, (_, i) => ({ idempotencyKey: `${p}${i}`, kind: 'CALL', cost: '0.01' }));
  const BATCH = 'mutation($i: [RecordUsageInput!]!) { recordUsageBatch(input: $i) { created } }';

  // Large batches in flight when the signal arrives.
  const inflight = [gql(key, BATCH, { i: items(1000, 'a') }), gql(key, BATCH, { i: items(1000, 'b') })];
  await new Promise((r) => setTimeout(r, 30));
  child.kill('SIGTERM');
  const answers = await Promise.all(inflight);
  const code = await exited;
  child = null;

  expect(code).toBe(0);
  const created = answers.reduce((n, a) => n + (a.data?.recordUsageBatch?.created ?? 0), 0);
  // Whatever was answered is committed, and nothing else is.
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const { rows } = await db.query('SELECT count(*)::int AS n FROM usage_events');
  await db.end();
  expect(rows[0].n).toBe(created);
  expect(created).toBe(2000);
  await expect(fetch(`${base}/healthz`)).rejects.toThrow();
});
