// usage and quota meet at two ports owned by usage (server/src/modules/usage/ports.ts): the
// ledger participant and the usage reader. These read the sources as a newcomer would and
// fail when the seam is crossed again.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MODULES = join(__dirname, '..', 'server', 'src', 'modules');
const filesOf = (module: string) =>
  readdirSync(join(MODULES, module))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: `${module}/${f}`, text: readFileSync(join(MODULES, module, f), 'utf8') }));
const importsOf = (text: string) => [...text.matchAll(/^import[^;]*?from '([^']+)'/gms)].map((m) => m[1] as string);

describe('the seam between usage and quota', () => {
  it('usage never imports quota', () => {
    const offenders = filesOf('usage').filter(({ text }) => importsOf(text).some((i) => i.includes('/quota/')));
    expect(offenders.map((o) => o.file)).toEqual([]);
  });

  it("quota names neither usage's tables nor api_keys: it asks the usage reader and the api-keys module", () => {
    const offenders = filesOf('quota').filter(({ text }) => /\b(usage_events|usage_rollups\w*|api_keys)\b/.test(text));
    expect(offenders.map((o) => o.file)).toEqual([]);
  });

  it("quota's services read usage only through the ports and the ledger types, never its summaries or writer", () => {
    const allowed = new Set(['../usage/ports', '../usage/usage.types', '../usage/group-commit']);
    // The schema (the module's face) may render with usage's GraphQL shapes; its services may not.
    const services = filesOf('quota').filter(({ file }) => !file.endsWith('.schema.ts'));
    const reached = services.flatMap(({ file, text }) =>
      importsOf(text)
        .filter((i) => i.startsWith('../usage/') && !allowed.has(i))
        .map((i) => `${file} -> ${i}`),
    );
    expect(reached).toEqual([]);
  });

  it('all of quota’s SQL is in quota.store.ts', () => {
    const offenders = filesOf('quota').filter(
      ({ file, text }) => file !== 'quota/quota.store.ts' && /\.query(<[^>]*>)?\(/.test(text),
    );
    expect(offenders.map((o) => o.file)).toEqual([]);
  });
});

describe('typed topics, published by the module that owns the fact', () => {
  const SRC = join(__dirname, '..', 'server', 'src');
  const read = (f: string) => readFileSync(join(SRC, f), 'utf8');

  it('pubsub.ts is a generic port: it imports no module and names no topic', () => {
    const text = read('pubsub.ts');
    expect(importsOf(text).filter((i) => i.includes('/modules/'))).toEqual([]);
    expect(text.match(/'(usage|quota|keys):\w+'/g) ?? []).toEqual([]);
  });

  it("each topic is declared by its module's topics file, and the root only assembles them", () => {
    const declared = (module: string, file: string) =>
      [...read(`modules/${module}/${file}`).matchAll(/^\s*'([\w:]+)':/gm)].map((m) => m[1]);
    expect(declared('usage', 'usage.topics.ts')).toEqual(['usage:recorded']);
    expect(declared('quota', 'quota.topics.ts')).toEqual(['quota:alert', 'quota:changed']);
    expect(declared('api-keys', 'api-keys.topics.ts')).toEqual(['keys:revoked']);
    expect(read('topics.ts')).toMatch(/export type Topics = UsageTopics & QuotaTopics & ApiKeysTopics;/);
  });

  it('app.ts publishes nothing itself: no service emitter is relayed to pub/sub there', () => {
    const app = read('app.ts');
    expect(app.match(/pubsub\.publish\(/g) ?? []).toEqual([]);
    expect(app.match(/emitter\.on\('(created|alerts|changed|outcomes)'/g) ?? []).toEqual([]);
  });
});
