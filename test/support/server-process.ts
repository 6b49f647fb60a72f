// Tally as a real server process (`node --import tsx server/src/main.ts`), for the tests that
// crash it (kill -9) or cut its database: started with the operator key, waited for until
// /readyz answers, its output drained (a full pipe would block its logging) with the tail kept
// for failure messages. Every process started here is killed by killServerProcesses().
import { type ChildProcess, spawn } from 'node:child_process';
import { OPERATOR_KEY } from './harness';
import { sleep } from './wait';

export interface ServerProcess {
  child: ChildProcess;
  base: string;
  exited: Promise<number | null>;
  output: () => string;
}

const children = new Set<ChildProcess>();

export async function startServerProcess(env: Record<string, string>, port: number): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/src/main.ts'], {
    env: { ...process.env, ...env, PORT: String(port), TALLY_OPERATOR_KEY: OPERATOR_KEY, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${out}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`server did not become ready:\n${out}`);
    await sleep(100);
  }
  return { child, base, exited, output: () => out };
}

/** SIGKILL to every server process still running (an afterAll). */
export function killServerProcesses() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export interface GqlError {
  message: string;
  extensions?: { code?: string; retryable?: boolean; [k: string]: unknown };
}
export type Reply = { ok: true; status: number; data?: any; errors?: GqlError[] } | { ok: false; network: string };

/** One POST /graphql; a connection failure is a value, not an exception. */
export async function post(base: string, key: string, query: string, variables?: unknown): Promise<Reply> {
  try {
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json()) as { data?: any; errors?: GqlError[] };
    return { ok: true, status: res.status, ...body };
  } catch (e) {
    return { ok: false, network: String((e as Error).cause ?? e) };
  }
}
