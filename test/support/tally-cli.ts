// The `tally` command as a process, as an operator runs it: against a real server's URL, with
// a key in TALLY_API_KEY, stdout and stderr kept apart, and the exit code. COLUMNS is 80 unless
// a test says otherwise (the width a table must fit when stdout is not a terminal). The bin is
// the built one (test/support/global-setup.ts builds it once per run), run with plain node as
// an installed `tally` is: about 0.1 s a command, where the sources through tsx take 0.4 s.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { inject } from 'vitest';

export const TALLY_BIN = inject('tallyBin');

export interface TallyRun {
  code: number | null;
  out: string;
  err: string;
}

/** A process's stdout and stderr, apart, and its exit code, once it has ended. */
export function finished(p: ChildProcessWithoutNullStreams): Promise<TallyRun> {
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

export function tallyAt(url: string, defaultKey: string) {
  const env = (key: string, extra: Record<string, string>) => {
    const { TALLY_URL: _, TALLY_API_KEY: __, COLUMNS: ___, ...inherited } = process.env;
    return { ...inherited, TALLY_URL: url, TALLY_API_KEY: key, COLUMNS: '80', ...extra };
  };
  return {
    run(args: string[], key = defaultKey, extra: Record<string, string> = {}): Promise<TallyRun> {
      return finished(spawn(process.execPath, [TALLY_BIN, ...args], { env: env(key, extra) }));
    },
    /** A long-running command (watch): its output so far in `out`. */
    start(args: string[], key = defaultKey): { p: ChildProcessWithoutNullStreams; out: () => string } {
      const p = spawn(process.execPath, [TALLY_BIN, ...args], { env: env(key, {}) });
      let out = '';
      p.stdout.on('data', (d) => {
        out += d;
      });
      return { p, out: () => out };
    },
  };
}

/** JSON printed by a --json run (fails the test with stderr when it is not JSON). */
export function parsed<T = any>(r: TallyRun): T {
  try {
    return JSON.parse(r.out) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.out}\nstderr: ${r.err}`);
  }
}

/** Lines longer than `width` characters (code points), for the 80-column checks. */
export const overlong = (text: string, width = 80) => text.split('\n').filter((l) => Array.from(l).length > width);
