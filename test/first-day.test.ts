// `npm start` on a new machine, through the real process: as root in a checkout others
// cannot enter (/root is 0700 in most containers), with PORT taken, and with the embedded
// database's port taken by something that is not this checkout's cluster.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { freePort } from '../server/src/db/embedded';
import { freshDatabase, OPERATOR_KEY } from './support/harness';

const ROOT = path.resolve(import.meta.dirname, '..');
const children = new Set<ChildProcess>();
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const f of cleanups.reverse()) f();
});

interface Started {
  child: ChildProcess;
  output: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], cwd: string, env: Record<string, string>): Started {
  const { DATABASE_URL: _, TALLY_OPERATOR_KEY: __, ...rest } = process.env;
  const child = spawn(process.execPath, args, { cwd, env: { ...rest, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (b) => {
    out += b;
  });
  child.stderr?.on('data', (b) => {
    out += b;
    err += b;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, output: () => out, stderr: () => err, exited };
}

/** Resolves when /readyz answers 200; fails with the process's output if it exits first. */
async function ready(s: Started, port: number, ms = 60_000) {
  let exited: number | null | undefined;
  void s.exited.then((code) => {
    exited = code;
  });
  const until = Date.now() + ms;
  while (Date.now() < until && exited === undefined) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the server did not become ready (exit ${exited}):\n${s.output()}`);
}

async function stop(s: Started) {
  s.child.kill('SIGTERM');
  expect(await s.exited, s.output()).toBe(0);
}

const gql = async (port: number, key: string, query: string) =>
  (await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query }),
  }).then((r) => r.json())) as { data?: any; errors?: unknown[] };

/** Holds `port` with a plain TCP server, as a leftover process or a second checkout would. */
async function hold(port: number, host = '0.0.0.0'): Promise<net.Server> {
  const srv = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, host, resolve);
  });
  cleanups.push(() => srv.close());
  return srv;
}

it('as root in a checkout the postgres user cannot enter, npm start starts the embedded database, and restarts find it', async () => {
  // A checkout in a 0700 directory, with its own node_modules (hard links, no npm ci).
  const home = mkdtempSync(path.join(tmpdir(), 'tally-home-'));
  expect(statSync(home).mode & 0o077).toBe(0);
  cleanups.push(() => rmSync(home, { recursive: true, force: true }));
  const checkout = path.join(home, 'tally');
  mkdirSync(checkout);
  for (const f of ['package.json', 'server', 'client', 'dashboard', 'migrations', 'scripts'])
    cpSync(path.join(ROOT, f), path.join(checkout, f), { recursive: true });
  execFileSync('cp', ['-al', path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules')]);
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: checkout, stdio: 'ignore' });

  const port = await freePort();
  const env = { PORT: String(port), TALLY_EMBEDDED_PG_PORT: String(await freePort()), LOG_LEVEL: 'info' };
  const first = start(['dist/server.mjs'], checkout, env);
  await ready(first, port);
  const key = readFileSync(path.join(checkout, '.data', 'operator-key'), 'utf8').trim();
  expect(first.output()).toContain(key);
  const created = await gql(
    port,
    key,
    'mutation { createTenant(input: { name: "root-home" }) { apiKey { tenant { id } } } }',
  );
  expect(created.errors).toBeUndefined();
  const tenantId = created.data.createTenant.apiKey.tenant.id as string;

  // As root (here and in CI), the log says where the database went: outside the closed home,
  // owned by the postgres user. Any other user owns its home, so the cluster stays in place.
  const where = /embedded PostgreSQL ready in (\S+) on/.exec(first.output())?.[1] as string;
  expect(existsSync(path.join(where, 'PG_VERSION')), first.output()).toBe(true);
  if (process.getuid?.() === 0) {
    expect(first.output()).toContain(`this checkout's database lives in ${where} instead`);
    cleanups.push(() => rmSync(where, { recursive: true, force: true }));
    expect(readFileSync(path.join(where, 'tally-data-dir'), 'utf8').trim()).toBe(path.join(checkout, '.data', 'pg'));
    expect(where.startsWith(home)).toBe(false);
    const postgresUid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    expect(statSync(where).uid).toBe(postgresUid);
  } else expect(where).toBe(path.join(checkout, '.data', 'pg'));
  await stop(first);

  // The same checkout finds the same cluster again: the tenant is still there.
  const second = start(['dist/server.mjs'], checkout, env);
  await ready(second, port);
  expect(second.output()).toContain(`embedded PostgreSQL ready in ${where} on`);
  const again = await gql(port, key, `{ tenant(id: "${tenantId}") { name } }`);
  expect(again).toEqual({ data: { tenant: { name: 'root-home' } } });
  await stop(second);
});

it('with PORT taken, the server says which port in one line and exits non-zero at once', async () => {
  const url = await freshDatabase('first_day_port');
  const port = await freePort();
  await hold(port);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tally-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const s = start(['--import', 'tsx', 'server/src/main.ts'], ROOT, {
    DATABASE_URL: url,
    PORT: String(port),
    TALLY_OPERATOR_KEY: OPERATOR_KEY,
    TALLY_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
  });
  const code = await s.exited;
  expect(code, s.output()).toBe(1);
  // One line on stderr, naming the port and the setting.
  expect(s.stderr().trim().split('\n'), s.output()).toEqual([
    expect.stringMatching(new RegExp(`port ${port}\\b.*taken.*PORT`)),
  ]);
  // At once: before the database is touched (it used to migrate first, then linger 11 s and
  // exit 0): no log line of the start, and no migration ran.
  expect(s.output()).not.toContain('migrations applied');
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const { rows } = await db.query(`SELECT to_regclass('typeorm_migrations') AS t`);
  await db.end();
  expect(rows[0].t).toBeNull();
});

it("with the embedded database's port taken by another process, it uses a free port and says so", async () => {
  const pgPort = await freePort();
  await hold(pgPort, '127.0.0.1');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tally-'));
  chmodSync(dataDir, 0o755); // a data directory PostgreSQL can reach, even as root
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const s = start(['--import', 'tsx', 'server/src/main.ts'], ROOT, {
    PORT: String(port),
    TALLY_EMBEDDED_PG_PORT: String(pgPort),
    TALLY_OPERATOR_KEY: OPERATOR_KEY,
    TALLY_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
  });
  cleanups.push(() => {
    // The cluster outlives a SIGKILLed server: stop it by its own pg_ctl if the test failed.
    if (existsSync(path.join(dataDir, 'pg', 'postmaster.pid')))
      spawn('kill', [readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0] as string]);
  });
  await ready(s, port);
  expect(s.output()).toMatch(new RegExp(`port ${pgPort} is taken by another process.*using port \\d+ instead`));
  const used = Number(/embedded PostgreSQL ready in \S+ on 127\.0\.0\.1:(\d+)/.exec(s.output())?.[1]);
  expect(used).not.toBe(pgPort);
  expect(await gql(port, OPERATOR_KEY, '{ viewer { isOperator } }')).toEqual({
    data: { viewer: { isOperator: true } },
  });
  expect(
    (await gql(port, OPERATOR_KEY, 'mutation { createTenant(input: { name: "p" }) { secret } }')).errors,
  ).toBeUndefined();
  await stop(s);
});
