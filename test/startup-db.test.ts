// First day with DATABASE_URL, through the real `npm start` entry (server/src/main.ts):
// a database that does not exist yet is created when the user may (else one line and a
// non-zero exit), and every instance of one database accepts the same operator key.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../server/src/db/embedded';
import { freshDatabase, withDatabase } from './support/harness';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

interface Instance {
  base: string;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
  stop: () => Promise<number | null>;
}

function start(env: Record<string, string>, port: number): Instance {
  const { TALLY_OPERATOR_KEY: _k, DATABASE_APP_URL: _a, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/src/main.ts'], {
    env: {
      ...inherited,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      TALLY_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'tally-start-')),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    base: `http://127.0.0.1:${port}`,
    out: () => out,
    err: () => err,
    exited,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

async function ready(i: Instance) {
  for (let n = 0; n < 300; n++) {
    if (i.err().length && (await Promise.race([i.exited, Promise.resolve('running')])) !== 'running')
      throw new Error(`exited: ${i.err()}`);
    try {
      if ((await fetch(`${i.base}/readyz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${i.base} did not come up: ${i.err()}`);
}

const CREATE_TENANT = 'mutation($n: String!) { createTenant(input: { name: $n }) { apiKey { tenant { id } } } }';
async function asOperator(i: Instance, key: string, name: string) {
  const res = await fetch(`${i.base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: CREATE_TENANT, variables: { n: name } }),
  });
  return (await res.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] };
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: inject('pgAdminUrl') });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('a DATABASE_URL naming a database that does not exist', () => {
  it('is created when the user may, and the service starts', async () => {
    const name = `t_missing_${randomBytes(4).toString('hex')}`;
    const i = start({ DATABASE_URL: withDatabase(inject('pgAdminUrl'), name) }, await freePort());
    await ready(i);
    const rows = await admin((c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]));
    expect(rows.rowCount).toBe(1);
    expect(await i.stop()).toBe(0);
  });

  it('stops with one line saying so, and a non-zero exit, when the user may not create it', async () => {
    const user = `t_nocreatedb_${randomBytes(3).toString('hex')}`;
    await admin((c) => c.query(`CREATE ROLE ${user} LOGIN PASSWORD 'pw'`));
    const url = new URL(withDatabase(inject('pgAdminUrl'), `t_absent_${randomBytes(4).toString('hex')}`));
    url.username = user;
    url.password = 'pw';
    const i = start({ DATABASE_URL: url.toString() }, await freePort());
    expect(await i.exited).toBe(1);
    const lines = i.err().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^tally: database "${url.pathname.slice(1)}" does not exist and DATABASE_URL's user "${user}" could not create it \\(permission denied to create database\\)`,
      ),
    );
  });
});

describe('the operator key with a shared DATABASE_URL', () => {
  it('is generated once: a second instance accepts the first one’s key and prints none of its own', async () => {
    const url = await freshDatabase('operator-key');
    const a = start({ DATABASE_URL: url }, await freePort());
    await ready(a);
    const key = /Operator key \(shown once; also kept in (\S+)\):\s+(tly_op_\S+)/.exec(a.out());
    expect(key).not.toBeNull();
    const [, fileA, secret] = key as unknown as [string, string, string];
    expect(existsSync(fileA)).toBe(true);

    const dirB = mkdtempSync(path.join(tmpdir(), 'tally-start-b-'));
    const b = start({ DATABASE_URL: url, TALLY_DATA_DIR: dirB }, await freePort());
    await ready(b);
    expect(b.out()).not.toContain('Operator key');
    expect(existsSync(path.join(dirB, 'operator-key'))).toBe(false);
    expect((await asOperator(b, secret, 'via-b')).data?.createTenant.apiKey.tenant.id).toBeTruthy();
    expect((await asOperator(a, secret, 'via-a')).data?.createTenant.apiKey.tenant.id).toBeTruthy();
    // a made-up key is nobody's operator key
    expect(
      (await asOperator(b, `tly_op_${randomBytes(32).toString('base64url')}`, 'x')).errors?.[0]?.extensions?.code,
    ).toBe('UNAUTHENTICATED');
    await Promise.all([a.stop(), b.stop()]);

    // TALLY_OPERATOR_KEY on a (re)started instance replaces it for every instance started after
    const rotated = `tly_op_${randomBytes(32).toString('base64url')}`;
    const c = start({ DATABASE_URL: url, TALLY_OPERATOR_KEY: rotated }, await freePort());
    await ready(c);
    const d = start({ DATABASE_URL: url }, await freePort());
    await ready(d);
    expect((await asOperator(d, rotated, 'rotated')).data?.createTenant.apiKey.tenant.id).toBeTruthy();
    expect((await asOperator(d, secret, 'old')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await Promise.all([c.stop(), d.stop()]);
  });
});
