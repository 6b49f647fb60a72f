// A PgBouncer in transaction mode in front of the test PostgreSQL (npm run test:pgbouncer):
// Debian's `pgbouncer` with its defaults, apart from the pool mode, where it listens and the
// one user it lets in. In transaction mode a server connection serves whichever client has
// a transaction, so the service must keep no session state (see db/database.ts).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../server/src/db/embedded';

export interface PgBouncer {
  port: number;
  stop(): Promise<void>;
}

export async function startPgBouncer(opts: {
  host: string;
  port: number;
  users: Record<string, string>;
}): Promise<PgBouncer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tally-pgbouncer-'));
  const port = await freePort();
  writeFileSync(
    path.join(dir, 'userlist.txt'),
    Object.entries(opts.users)
      .map(([u, p]) => `"${u}" "${p}"\n`)
      .join(''),
  );
  writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    `[databases]
* = host=${opts.host} port=${opts.port}

[pgbouncer]
pool_mode = transaction
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir = ${dir}
auth_file = ${dir}/userlist.txt
logfile = ${dir}/pgbouncer.log
pidfile = ${dir}/pgbouncer.pid
; every test file runs its own app (pool of 10) and the suite runs files in parallel
max_client_conn = 1000
`,
  );
  // PgBouncer refuses to run as root: as root (CI), it runs as the postgres user.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(path.join(dir, f), uid, gid);
  }
  const bin = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));
  if (!bin) throw new Error('pgbouncer is not installed (apt-get install -y pgbouncer)');
  const child: ChildProcess = spawn(bin, [...(asRoot ? ['-u', 'postgres'] : []), path.join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for (let i = 0; ; i++) {
    if (await accepts(port)) break;
    if (child.exitCode !== null || i > 100) {
      let log = '';
      try {
        log = readFileSync(path.join(dir, 'pgbouncer.log'), 'utf8');
      } catch {}
      child.kill('SIGKILL');
      throw new Error(`pgbouncer did not start: ${stderr}${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    async stop() {
      child.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
