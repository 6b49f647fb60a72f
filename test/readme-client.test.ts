// Runs the typed client's code samples as a user pastes them. The rule: every ```ts block that
// follows the comment `<!-- test/readme-client.test.ts runs this: NAME -->` (in README.md's
// "Typed client" section and in client/README.md's five-minute starts) is a whole program. Each
// is written to a scratch folder as NAME.mts, type-checked with the repo's TypeScript under the
// repo's strict tsconfig (`@tally/client` resolves to client/src, as in every test), then run with
// tsx, in the order the READMEs show them, against a real HTTP server, with TALLY_URL and
// TALLY_API_KEY set as NAME's setup below says. Each must exit 0 by itself (so a subscription
// sample must end its subscription and close the client) and print what the ```text block after
// it shows, line by line: `…` stands for any text, and an ISO instant (2026-11-29T23:38:41.000Z)
// for any instant. A ```ts block without the comment (an answer's shape) is not run.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTallyClient, type TallyClient } from '@tally/client';
import ts from 'typescript';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY } from './support/harness';
import { plannedTenant } from './support/world';

const ROOT = path.resolve(import.meta.dirname, '..');
const MARK = /<!-- test\/readme-client\.test\.ts runs this: ([\w-]+) -->\n```ts\n([\s\S]*?)```/g;

interface Sample {
  name: string;
  where: string;
  code: string;
  expected: string[];
}

function samples(file: string): Sample[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(MARK)].map((m) => {
    const where = `${file}:${text.slice(0, m.index).split('\n').length}`;
    const after = text.slice((m.index ?? 0) + m[0].length);
    const out = /^\s*(?:[^`\n][^\n]*\n\s*)?```text\n([\s\S]*?)```/.exec(after);
    expect(out, `${where}: a \`\`\`text block shows what ${m[1]} prints`).not.toBeNull();
    return { name: m[1] as string, where, code: m[2] as string, expected: (out?.[1] ?? '').trimEnd().split('\n') };
  });
}

const INSTANT = '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z';
/** A shown line as a pattern: `…` is any text, an instant any instant, the rest to the letter. */
function pattern(shown: string): RegExp {
  const re = shown
    .split(new RegExp(`(…|${INSTANT})`))
    .map((part, i) => (i % 2 ? (part === '…' ? '.+' : INSTANT) : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${re}$`);
}

const all = [...samples('client/README.md'), ...samples('README.md')];
const dir = mkdtempSync(path.join(tmpdir(), 'tally-readme-client-'));
const fileOf = (s: Sample) => path.join(dir, `${s.name}.mts`);
for (const s of all) writeFileSync(fileOf(s), s.code);

let h: Harness;
let url: string;
const clients: TallyClient[] = [];
const connect = (apiKey: string) => {
  const c = createTallyClient({ url, apiKey });
  clients.push(c);
  return c;
};
/** What each sample's TALLY_API_KEY is; `printed` holds what the samples before it printed. */
let keys: Record<string, (printed: Map<string, string[]>) => string | Promise<string>>;

beforeAll(async () => {
  h = await createHarness('readme_client');
  const server = await h.listen();
  url = `http://127.0.0.1:${server.port}/graphql`;
  await connect(OPERATOR_KEY).setPrice({
    provider: 'openai',
    model: 'gpt-4o-mini',
    inputPerMillion: '0.15',
    cachedInputPerMillion: '0.075',
    outputPerMillion: '0.60',
    effectiveFrom: '2020-01-01T00:00:00Z',
  });
  // The tenant the samples state: a plan with a COST per DAY limit of 5 USD.
  const day = { metric: 'COST', period: 'DAY', amount: '5', action: 'BLOCK', thresholds: [80, 100] } as const;
  const limits = [{ ...day, thresholds: [...day.thresholds] }];
  const gateway = await plannedTenant(connect, 'Gateway', limits);
  const ingest = await connect(gateway.adminKey).createApiKey({ name: 'gateway', scopes: ['INGEST'] });
  const acme = await plannedTenant(connect, 'Acme', limits);
  keys = {
    gateway: () => ingest.secret,
    buffer: () => ingest.secret,
    backend: () => gateway.adminKey,
    // As the README says above the sample: the operator has put user-42 on a plan of its own.
    browser: async (printed) => {
      const operator = connect(OPERATOR_KEY);
      await operator.upsertPlan({
        code: 'per-user',
        name: 'Per user',
        limits: [{ ...day, thresholds: [], amount: '1' }],
      });
      await operator.assignPlan({
        tenantId: gateway.id,
        planCode: 'per-user',
        subject: 'user-42',
        startsAt: '2020-01-01T00:00:00Z',
      });
      return printed.get('backend')?.[0] ?? '';
    },
    'typed-client': () => acme.adminKey,
  };
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('the READMEs mark the client samples this file runs', () => {
  expect(all.map((s) => s.name)).toEqual(['gateway', 'buffer', 'backend', 'browser', 'typed-client']);
});

it('every sample type-checks under the repo tsconfig (strict)', () => {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  expect(config?.options.strict).toBe(true);
  const program = ts.createProgram(all.map(fileOf), { ...config?.options, noEmit: true });
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    const sample = all.find((s) => d.file && path.resolve(d.file.fileName) === fileOf(s));
    const where = sample ? `${sample.where} (${sample.name}), sample line ${(at?.line ?? 0) + 1}` : d.file?.fileName;
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  expect(problems).toEqual([]);
});

const printed = new Map<string, string[]>();
const run = promisify(execFile);
for (const s of all) {
  it(`${s.where}: the ${s.name} sample runs, ends and prints what the README shows`, async () => {
    const { TALLY_URL: _, TALLY_API_KEY: __, ...inherited } = process.env;
    const env = { ...inherited, TALLY_URL: url, TALLY_API_KEY: (await keys[s.name]?.(printed)) ?? '' };
    const tsx = path.join(ROOT, 'node_modules/.bin/tsx');
    const { stdout } = await run(tsx, ['--tsconfig', path.join(ROOT, 'tsconfig.json'), fileOf(s)], {
      cwd: dir,
      env,
      timeout: 20_000,
    });
    const lines = stdout.trimEnd().split('\n');
    printed.set(s.name, lines);
    expect(lines.length, `printed:\n${stdout}`).toBe(s.expected.length);
    for (const [i, shown] of s.expected.entries())
      expect(lines[i], `line ${i + 1}; shown: ${shown}`).toMatch(pattern(shown));
  });
}

it('the output matcher: … is any text, an instant any instant, the rest to the letter', () => {
  expect('user-42 2027-01-05T01:02:03.456Z').toMatch(pattern('user-42 2026-11-29T23:38:41.000Z'));
  expect('tsk_abc_def').toMatch(pattern('tsk_…'));
  expect('tsk_').not.toMatch(pattern('tsk_…'));
  expect('CREATED 0.00036').not.toMatch(pattern('CREATED 0.000360000000'));
  expect('0 CREATED  0.1').not.toMatch(pattern('0 CREATED 0.1'));
  expect('user-42 2027-01-05').not.toMatch(pattern('user-42 2026-11-29T23:38:41.000Z'));
});
