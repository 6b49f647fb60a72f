// usage and quota meet at two ports owned by usage (server/src/modules/usage/ports.ts): the
// ledger participant and the usage reader. These read the sources as a newcomer would and
// fail when the seam is crossed again. Who may import whom (usage never imports quota,
// other modules' services reach usage only through its ports, pubsub.ts imports no module)
// is in test/layering.test.ts, and that quota's SQL (like every module's with a store) is in its
// store in test/stores.test.ts; what is here is read from the text, not the import lines.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MODULES = join(__dirname, '..', 'server', 'src', 'modules');
const filesOf = (module: string) =>
  readdirSync(join(MODULES, module))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: `${module}/${f}`, text: readFileSync(join(MODULES, module, f), 'utf8') }));

describe('the seam between usage and quota', () => {
  it("quota names neither usage's tables nor api_keys: it asks the usage reader and the api-keys module", () => {
    const offenders = filesOf('quota').filter(({ text }) => /\b(usage_events|usage_rollups\w*|api_keys)\b/.test(text));
    expect(offenders.map((o) => o.file)).toEqual([]);
  });
});

describe('typed topics, published by the module that owns the fact', () => {
  const SRC = join(__dirname, '..', 'server', 'src');
  const read = (f: string) => readFileSync(join(SRC, f), 'utf8');

  it('pubsub.ts is a generic port: it names no topic', () => {
    expect(read('pubsub.ts').match(/'(usage|quota|keys):\w+'/g) ?? []).toEqual([]);
  });

  it("each topic is declared by its module's topics file, and the root only assembles them", () => {
    const declared = (module: string, file: string) =>
      [...read(`modules/${module}/${file}`).matchAll(/^\s*'([\w:]+)':/gm)].map((m) => m[1]);
    expect(declared('usage', 'usage.topics.ts')).toEqual(['usage:recorded']);
    expect(declared('quota', 'quota.topics.ts')).toEqual(['quota:alert', 'quota:changed']);
    expect(declared('api-keys', 'api-keys.topics.ts')).toEqual(['keys:revoked']);
    expect(declared('credits', 'credits.topics.ts')).toEqual(['credits:changed']);
    expect(read('topics.ts')).toMatch(
      /export type Topics = UsageTopics & QuotaTopics & ApiKeysTopics & CreditsTopics;/,
    );
  });

  it('app.ts publishes nothing itself: no service emitter is relayed to pub/sub there', () => {
    const app = read('app.ts');
    expect(app.match(/pubsub\.publish\(/g) ?? []).toEqual([]);
    expect(app.match(/emitter\.on\('(created|alerts|changed|outcomes)'/g) ?? []).toEqual([]);
  });
});
