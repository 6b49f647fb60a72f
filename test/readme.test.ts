// Runs the README's walkthrough as a newcomer does: every ```bash block between
// "## Walkthrough" and the "end of walkthrough" comment, in order, pasted into one bash
// session (so the shell variables a block sets reach the later ones), against a real server,
// with the operator key in .data/operator-key as `npm start` leaves it. The text is run as
// written: nothing is substituted. Each block's output is compared with the ```json block
// that follows it (a block with none must print nothing):
//   - `…` inside a shown string stands for any text (ids and secrets differ on every run);
//   - output made of SSE `data:` lines is compared, as a set, with the shown array;
//   - a ```csv block instead is the output's text, line by line (`…` again stands for any text);
// No answer in the walkthrough holds today's date, so no date needs normalising.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY } from './support/harness';

interface Block {
  line: number;
  script: string;
  expected: unknown;
  /** A ```csv answer: the lines printed, as text. */
  text?: string[];
}

function walkthrough(readme: string): Block[] {
  const start = readme.indexOf('## Walkthrough');
  const end = readme.indexOf('<!-- end of walkthrough');
  expect(start, 'the README has a Walkthrough section').toBeGreaterThanOrEqual(0);
  expect(end, 'the walkthrough ends with its comment').toBeGreaterThan(start);
  const fences = [...readme.slice(start, end).matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1] as string,
    body: m[2] as string,
    line: readme.slice(0, start + (m.index ?? 0)).split('\n').length,
  }));
  const blocks: Block[] = [];
  for (const [i, f] of fences.entries()) {
    if (f.lang !== 'bash') continue;
    const next = fences[i + 1];
    if (next?.lang === 'csv')
      blocks.push({
        line: f.line,
        script: f.body,
        expected: null,
        text: next.body.split('\n').filter((l) => l.trim()),
      });
    else
      blocks.push({
        line: f.line,
        script: f.body,
        expected: next?.lang === 'json' ? JSON.parse(next.body) : undefined,
      });
  }
  return blocks;
}

/** The shown answer as a matcher: `…` in a string matches any text. */
function shown(value: unknown): unknown {
  if (typeof value === 'string' && value.includes('…')) {
    const re = value
      .split('…')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.+');
    return expect.stringMatching(new RegExp(`^${re}$`));
  }
  if (Array.isArray(value)) return value.map(shown);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shown(v)]));
  return value;
}

/** One bash session; run() sends a block as pasted and returns what it printed. */
function bashSession(cwd: string, env: Record<string, string>) {
  const { TALLY_OPERATOR_KEY: _, TALLY_URL: __, ...inherited } = process.env;
  const bash: ChildProcessWithoutNullStreams = spawn('bash', [], { cwd, env: { ...inherited, ...env } });
  let out = '';
  let err = '';
  bash.stdout.on('data', (b) => {
    out += b;
  });
  bash.stderr.on('data', (b) => {
    err += b;
  });
  let n = 0;
  return {
    async run(script: string, ms = 30_000): Promise<{ stdout: string; stderr: string }> {
      const marker = `__readme_block_${++n}_done__`;
      out = '';
      err = '';
      bash.stdin.write(`${script}\necho ${marker}\n`);
      const until = Date.now() + ms;
      while (!out.includes(`${marker}\n`)) {
        if (Date.now() > until || bash.exitCode !== null)
          throw new Error(`the block did not finish; stdout:\n${out}\nstderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return { stdout: out.slice(0, out.indexOf(marker)), stderr: err };
    },
    close: () => bash.kill('SIGKILL'),
  };
}

let h: Harness;
let session: ReturnType<typeof bashSession> | undefined;
const cwd = mkdtempSync(path.join(tmpdir(), 'tally-readme-'));
beforeAll(async () => {
  h = await createHarness('readme');
});
afterAll(async () => {
  session?.close();
  await h?.close();
  rmSync(cwd, { recursive: true, force: true });
});

it('the README walkthrough, pasted block by block into bash, answers what it shows', async () => {
  const blocks = walkthrough(readFileSync(new URL('../README.md', import.meta.url), 'utf8'));
  expect(blocks.length).toBeGreaterThanOrEqual(15);
  expect(blocks.some((b) => b.script.includes('curl -sN'))).toBe(true);

  // The checkout as `npm start` leaves it: the operator key in .data/operator-key.
  const server = await h.listen();
  mkdirSync(path.join(cwd, '.data'));
  writeFileSync(path.join(cwd, '.data', 'operator-key'), `${OPERATOR_KEY}\n`, { mode: 0o600 });
  session = bashSession(cwd, { TALLY_URL: `http://127.0.0.1:${server.port}/graphql` });

  for (const b of blocks) {
    const label = `README line ${b.line}`;
    const { stdout, stderr } = await session.run(b.script);
    const lines = stdout.split('\n').filter((l) => l.trim());
    if (b.text) {
      expect(lines, `${label} prints the CSV shown (stderr: ${stderr})`).toEqual(b.text.map(shown));
      continue;
    }
    if (b.expected === undefined) {
      expect(lines, `${label} prints nothing (stderr: ${stderr})`).toEqual([]);
      continue;
    }
    expect(lines.length, `${label} prints an answer (stderr: ${stderr})`).toBeGreaterThan(0);
    if (lines.every((l) => l.startsWith('data:'))) {
      // An SSE stream: its events, in whatever order they were published.
      const got = lines.map((l) => JSON.stringify(JSON.parse(l.slice(5))));
      const want = (b.expected as unknown[]).map((e) => JSON.stringify(e));
      expect(got.sort(), label).toEqual(want.sort());
      continue;
    }
    expect(lines.length, `${label} prints one JSON answer: ${stdout}`).toBe(1);
    const answer = JSON.parse(lines[0] as string);
    expect(answer, label).toEqual(shown(b.expected));
  }
});
