// The layers of server/src (docs/architecture.md), read from the import lines of its files as
// a newcomer would: each relative import resolved to the file it names. Every rule below is
// one `it`; a failure lists each offending import as "importer -> imported".
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(__dirname, '..', 'server', 'src');

interface Import {
  /** The importing file, relative to server/src (e.g. modules/usage/usage.service.ts). */
  from: string;
  /** The imported file relative to server/src, or a package name as written (typeorm). */
  to: string;
  /** `import type` / `export type ... from`: erased when compiled, no module is loaded. */
  typeOnly: boolean;
}

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });

/** Relative imports that name no file: a rule over them would pass without reading them. */
const unresolved: string[] = [];

function target(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  const base = resolve(dirname(file), spec);
  const found = [`${base}.ts`, join(base, 'index.ts'), base].find((p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
  if (!found) unresolved.push(`${relative(SRC, file)} -> ${spec}`);
  return relative(SRC, found ?? base);
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const at = (spec: string, typeOnly: boolean) => ({ from: relative(SRC, file), to: target(file, spec), typeOnly });
  return [
    // import x from '...', import type { X } from '...', import '...', export { x } from '...', over several lines too
    ...[...text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^;'"]*?\sfrom\s+)?'([^']+)'/gm)].map((m) =>
      at(m[2] as string, m[1] !== undefined),
    ),
    // import('...'), in a type or an expression: counted as loading it
    ...[...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => at(m[1] as string, false)),
  ];
}

const IMPORTS = sourceFiles(SRC).flatMap(importsOf);

const under = (folder: string) => (path: string) => path.startsWith(`${folder}/`);
const moduleOf = (path: string) => /^modules\/([^/]+)\//.exec(path)?.[1] ?? null;
/**
 * A module's face: its Pothos types and fields (*.schema.ts), the refs and enums other modules
 * name (*.refs.ts) and its per-request DataLoaders (*.loaders.ts). Everything else in it is a
 * service, store or job.
 */
const isSchemaFile = (path: string) => /\.(schema|refs|loaders)\.ts$/.test(path);

/** "importer -> imported" for every import from a file `from` accepts to a file `to` accepts. */
const crossings = (from: (path: string) => boolean, to: (imp: Import) => boolean) =>
  IMPORTS.filter((i) => from(i.from) && to(i)).map((i) => `${i.from} -> ${i.to}`);

describe('the reader', () => {
  it('sees every import line of server/src and resolves each relative one to a file', () => {
    expect(unresolved).toEqual([]);
    // It is not blind: it sees the composition root load usage's service, and tells type imports apart.
    const load = IMPORTS.find((i) => i.from === 'services.ts' && i.to === 'modules/usage/usage.service.ts');
    expect(load?.typeOnly).toBe(false);
    expect(IMPORTS.filter((i) => i.from === 'topics.ts').every((i) => i.typeOnly)).toBe(true);
  });
});

describe('the layers of server/src', () => {
  it('usage imports no module that takes part in its writes or reads it through its ports (quota; later credits)', () => {
    // Quota and credits by name, and whoever else uses usage's ports (ports.ts: the ledger
    // participant, the usage reader), found in the code, so a new one is covered the day it comes.
    const participants = new Set(['quota', 'credits']);
    for (const i of IMPORTS) if (i.to === 'modules/usage/ports.ts') participants.add(moduleOf(i.from) ?? i.from);
    participants.delete('usage');
    expect(crossings(under('modules/usage'), (i) => participants.has(moduleOf(i.to) ?? ''))).toEqual([]);
  });

  it("another module's services reach usage only through its ports, its types and its group committer", () => {
    // The schema (a module's face) may render with usage's GraphQL shapes; its services may not
    // reach usage's writer, summaries, queries or service.
    const allowed = new Set([
      'modules/usage/ports.ts',
      'modules/usage/usage.types.ts',
      'modules/usage/group-commit.ts',
    ]);
    expect(
      crossings(
        (f) => moduleOf(f) !== null && moduleOf(f) !== 'usage' && !isSchemaFile(f),
        (i) => moduleOf(i.to) === 'usage' && !allowed.has(i.to),
      ),
    ).toEqual([]);
  });

  it('no service, store or job of a module imports graphql/ (who calls comes from server/src/auth/)', () => {
    expect(
      crossings(
        (f) => moduleOf(f) !== null && !isSchemaFile(f),
        (i) => under('graphql')(i.to),
      ),
    ).toEqual([]);
  });

  it('graphql/ loads no module: modules reach it only through the composition roots (schema.ts, services.ts, loaders.ts)', () => {
    // schema.ts imports every module's *.schema.ts; services.ts builds the Services the context
    // carries; loaders.ts composes each module's *.loaders.ts into the context's loaders. graphql/ may still name a module's types (`import type`, erased when compiled).
    expect(crossings(under('graphql'), (i) => moduleOf(i.to) !== null && !i.typeOnly)).toEqual([]);
  });

  it("graphql/ declares no module's refs or loaders: it names a module's type only for the Context", () => {
    // Refs live in modules/<m>/<m>.refs.ts and loaders in <m>.loaders.ts (composed in loaders.ts),
    // so graphql/ names a module only where context.ts types the request's QuotaFeed.
    expect(
      crossings(
        under('graphql'),
        (i) => moduleOf(i.to) !== null && !(i.from === 'graphql/context.ts' && i.to === 'modules/quota/quota.feed.ts'),
      ),
    ).toEqual([]);
  });

  it('pubsub, db/ and lib/ import no module and nothing of graphql/: they sit below every domain', () => {
    const below = (f: string) => f === 'pubsub.ts' || f === 'pubsub-redis.ts' || under('db')(f) || under('lib')(f);
    expect(crossings(below, (i) => moduleOf(i.to) !== null || under('graphql')(i.to))).toEqual([]);
  });

  it('auth/ imports no module and nothing of graphql/', () => {
    expect(crossings(under('auth'), (i) => moduleOf(i.to) !== null || under('graphql')(i.to))).toEqual([]);
  });

  it('TypeORM stays in db/: no other file of server/src imports it', () => {
    expect(
      crossings(
        (f) => !under('db')(f),
        (i) => i.to === 'typeorm' || i.to.startsWith('typeorm/'),
      ),
    ).toEqual([]);
  });

  it('nothing imports async_hooks: on Node 20 an AsyncLocalStorage taxes every promise of every request (request-scope.ts)', () => {
    expect(
      crossings(
        () => true,
        (i) => i.to === 'node:async_hooks' || i.to === 'async_hooks',
      ),
    ).toEqual([]);
  });
});
