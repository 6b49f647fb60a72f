// Runs the README's command-line transcript (the ```console block after the comment naming this
// file) against a real server, command by command in one bash session, and compares what each
// prints (stdout and stderr, at 80 columns) with the lines shown under it. Ids, secrets and key
// prefixes differ on every run: a value shown in the README stands for the value printed at
// that place, and a later command that uses it (`tally keys revoke <id>`) gets the real one;
// the same README value must always stand for the same real one. Dates and times match any
// date and time of the same shape. Everything else, spacing included, must be equal.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY } from './support/harness';
import { TALLY_BIN } from './support/tally-cli';

const MARK = '<!-- test/readme-cli.test.ts runs';

interface Step {
  line: number;
  command: string;
  expected: string[];
}

function transcript(readme: string): Step[] {
  const at = readme.indexOf(MARK);
  expect(at, 'the README marks its CLI transcript').toBeGreaterThan(0);
  const fence = /```console\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(fence, 'a ```console block follows the mark').not.toBeNull();
  const first = readme.slice(0, at + (fence?.index ?? 0)).split('\n').length + 1;
  const steps: Step[] = [];
  for (const [i, line] of (fence?.[1] ?? '').split('\n').entries()) {
    if (line.startsWith('$ ')) steps.push({ line: first + i, command: line.slice(2), expected: [] });
    else steps.at(-1)?.expected.push(line);
  }
  for (const s of steps) while (s.expected.length && s.expected.at(-1) === '') s.expected.pop();
  return steps;
}

// Values that differ per run. `bind`: the README's value stands for one real value everywhere.
const TOKENS: { re: string; bind: boolean }[] = [
  { re: 'tly_[0-9a-f]{8}_[A-Za-z0-9_-]{43}', bind: true }, // a secret
  { re: 'tsk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}', bind: true }, // a subject token
  { re: 'tly_[0-9a-f]{8}(?![0-9a-f_])', bind: true }, // a key prefix
  { re: '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', bind: true }, // an id
  { re: '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z', bind: false }, // an instant
  { re: '\\d{4}-\\d{2}-\\d{2}(?: \\d{2}:\\d{2}(?::\\d{2})?)?', bind: false }, // a local date (and time)
];
const ANY_TOKEN = new RegExp(TOKENS.map((t) => `(${t.re})`).join('|'), 'g');
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Matches a real line against a README line; returns the README -> real bindings, or null. */
function matchLine(shown: string, real: string, bound: Map<string, string>): Map<string, string> | null {
  const parts: string[] = [];
  const tokens: { value: string; bind: boolean }[] = [];
  let last = 0;
  for (const m of shown.matchAll(ANY_TOKEN)) {
    const kind = TOKENS[m.slice(1).findIndex((g) => g !== undefined)] as { re: string; bind: boolean };
    parts.push(literal(shown.slice(last, m.index)), `(${kind.re})`);
    tokens.push({ value: m[0], bind: kind.bind });
    last = (m.index ?? 0) + m[0].length;
  }
  parts.push(literal(shown.slice(last)));
  const m = new RegExp(`^${parts.join('')}$`).exec(real);
  if (!m) return null;
  const found = new Map<string, string>();
  for (const [i, t] of tokens.entries()) {
    if (!t.bind) continue;
    const value = m[i + 1] as string;
    const before = bound.get(t.value) ?? found.get(t.value);
    if (before !== undefined && before !== value) return null;
    found.set(t.value, value);
  }
  return found;
}

/** The command with every README value it names replaced by the real one. */
function substitute(command: string, bound: Map<string, string>): string {
  return command.replace(ANY_TOKEN, (v) => {
    const real = bound.get(v);
    if (real === undefined) throw new Error(`the command uses ${v}, which nothing before it printed`);
    return real;
  });
}

function bash(cwd: string, env: Record<string, string>) {
  const { TALLY_URL: _, TALLY_API_KEY: __, COLUMNS: ___, ...inherited } = process.env;
  const p: ChildProcessWithoutNullStreams = spawn('bash', [], { cwd, env: { ...inherited, ...env } });
  let out = '';
  p.stdout.on('data', (b) => {
    out += b;
  });
  p.stderr.on('data', (b) => {
    out += b;
  });
  let n = 0;
  return {
    async run(command: string, ms = 60_000): Promise<string> {
      const marker = `__readme_cli_${++n}__`;
      out = '';
      p.stdin.write(`${command} 2>&1\necho ${marker}\n`);
      const until = Date.now() + ms;
      while (!out.includes(`${marker}\n`)) {
        if (Date.now() > until || p.exitCode !== null) throw new Error(`"${command}" did not finish:\n${out}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return out.slice(0, out.indexOf(marker));
    },
    close: () => p.kill('SIGKILL'),
  };
}

let h: Harness;
let shell: ReturnType<typeof bash> | undefined;
const dir = mkdtempSync(path.join(tmpdir(), 'tally-readme-cli-'));
beforeAll(async () => {
  h = await createHarness('readme_cli');
});
afterAll(async () => {
  shell?.close();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('the README command-line transcript, run command by command, prints what it shows', async () => {
  const steps = transcript(readFileSync(new URL('../README.md', import.meta.url), 'utf8'));
  expect(steps.length).toBeGreaterThanOrEqual(10);
  // `tally` on the PATH, as the installed bin is.
  const bin = path.join(dir, 'bin');
  const cli = TALLY_BIN;
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'tally'), `#!/bin/sh\nexec "${process.execPath}" "${cli}" "$@"\n`);
  chmodSync(path.join(bin, 'tally'), 0o755);
  const server = await h.listen();
  shell = bash(dir, {
    PATH: `${bin}:${process.env.PATH}`,
    TALLY_URL: `http://127.0.0.1:${server.port}/graphql`,
    TALLY_API_KEY: OPERATOR_KEY,
    COLUMNS: '80',
  });
  const bound = new Map<string, string>();
  for (const step of steps) {
    const label = `README line ${step.line}: $ ${step.command}`;
    const real = (await shell.run(substitute(step.command, bound))).replace(/\n$/, '').split('\n');
    if (real.length === 1 && real[0] === '') real.pop();
    expect(real.length, `${label}\nprinted:\n${real.join('\n')}`).toBe(step.expected.length);
    for (const [i, shown] of step.expected.entries()) {
      const found = matchLine(shown, real[i] as string, bound);
      expect(found, `${label}, output line ${i + 1}\nshown:   ${shown}\nprinted: ${real[i]}`).not.toBeNull();
      for (const [k, v] of found ?? []) bound.set(k, v);
    }
  }
});

it('the matcher binds ids and secrets, lets dates vary, and holds everything else to the letter', () => {
  const id = '6f582961-0ad0-4741-a747-9ade956afd41';
  const real = '11111111-2222-4333-8444-555555555555';
  const bound = new Map<string, string>();
  expect(matchLine(`tenant   ${id}`, `tenant   ${real}`, bound)).toEqual(new Map([[id, real]]));
  bound.set(id, real);
  expect(matchLine(`tenant   ${id}`, 'tenant   99999999-2222-4333-8444-555555555555', bound)).toBeNull();
  expect(matchLine('created  2026-11-22 01:19', 'created  2027-01-05 23:59', bound)).not.toBeNull();
  expect(matchLine('cost     0.8 USD', 'cost     0.80 USD', bound)).toBeNull();
  expect(matchLine('a  b', 'a   b', bound)).toBeNull();
  expect(substitute(`tally keys revoke ${id}`, bound)).toBe(`tally keys revoke ${real}`);
  expect(() => substitute('tally keys revoke 00000000-0000-4000-8000-000000000000', bound)).toThrow(/nothing before/);
});
