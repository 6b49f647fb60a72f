// A redis-server of the test's own on a free port, which it may kill, restart and stall
// (the system Redis is never touched).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { freePort } from '../../server/src/db/embedded';
import { until } from './wait';

export const REDIS_SERVER = '/usr/bin/redis-server';
/** Whether this machine can spawn one; files skip their Redis tests when not. */
export const haveRedisServer = existsSync(REDIS_SERVER);

export class RedisServer {
  proc: ChildProcess | null = null;
  constructor(readonly port: number) {}
  /** A started redis-server on a free port. */
  static async start(): Promise<RedisServer> {
    const r = new RedisServer(await freePort());
    await r.start();
    return r;
  }
  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start() {
    this.proc = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await until(() => this.ping(), 'redis-server to answer PING', 10_000, 20);
  }
  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect(this.port, '127.0.0.1');
      s.setTimeout(500);
      s.on('connect', () => s.write('PING\r\n'));
      s.on('data', (d) => {
        resolve(d.toString().startsWith('+PONG'));
        s.destroy();
      });
      s.on('error', () => resolve(false));
      s.on('timeout', () => {
        resolve(false);
        s.destroy();
      });
    });
  }
  async kill() {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }
  stall() {
    this.proc?.kill('SIGSTOP');
  }
  resume() {
    this.proc?.kill('SIGCONT');
  }
}
