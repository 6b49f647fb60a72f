// The client's types are enforced by `npm test`: the whole project (test/types included) type
// checks, and the gql.tada introspection types the client is built on are current with
// schema/schema.graphql (regenerated here and compared with the committed file).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { generateOutput } from '@gql.tada/cli-utils';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const run = promisify(execFile);
const COMMITTED = 'client/src/graphql-env.d.ts';

describe('client types', () => {
  it('the project type checks, test/types/client.test-d.ts included (tsc --noEmit -p tsconfig.json)', async () => {
    const tsc = require.resolve('typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    }).then(
      () => ({ code: 0, output: '' }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? 1,
        output: `${e.stdout ?? ''}${e.stderr ?? ''}`,
      }),
    );
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it(`${COMMITTED} is what gql.tada generates from schema/schema.graphql (npm run client:types)`, async () => {
    const committed = await readFile(path.join(root, COMMITTED), 'utf8');
    const fresh = await generate(path.join(root, 'tsconfig.json'));
    // Equal, or the types are stale: run `npm run client:types && npm run format`.
    expect(firstDifference(fresh, committed)).toBeNull();
  });

  it('the comparison sees a schema change (a field added to the schema gives other output)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tally-schema-'));
    try {
      const schema = await readFile(path.join(root, 'schema/schema.graphql'), 'utf8');
      expect(schema).toMatch(/type Viewer \{/);
      await writeFile(
        path.join(dir, 'schema.graphql'),
        schema.replace('type Viewer {', 'type Viewer {\n  nickname: String'),
      );
      const tsconfig = JSON.parse(await readFile(path.join(root, 'tsconfig.json'), 'utf8'));
      tsconfig.compilerOptions.plugins = [
        { name: 'gql.tada/ts-plugin', schema: './schema.graphql', tadaOutputLocation: './graphql-env.d.ts' },
      ];
      tsconfig.include = [];
      await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
      const changed = await generate(path.join(dir, 'tsconfig.json'));
      expect(changed).toContain("'nickname'");
      const committed = await readFile(path.join(root, COMMITTED), 'utf8');
      expect(firstDifference(changed, committed)).not.toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** gql.tada's output for a tsconfig, exactly as `npm run client:types` writes it. */
async function generate(tsconfig: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tally-tada-'));
  try {
    const out = path.join(dir, 'graphql-env.d.ts');
    await generateOutput({ output: out, tsconfig, silent: true });
    const generated = await readFile(out, 'utf8');
    expect(generated).toContain('export type introspection');
    return generated;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The first line where two texts differ (1-based, with both versions), or null when equal. */
function firstDifference(a: string, b: string): string | null {
  if (a === b) return null;
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if (x[i] !== y[i]) return `line ${i + 1}: generated ${JSON.stringify(x[i])}, committed ${JSON.stringify(y[i])}`;
  return 'the texts differ';
}
