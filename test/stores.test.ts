// "Every module owns its SQL (a store)": a module with a <module>.store.ts keeps every
// statement there (or, when one file would pass 400 lines, in <module>.<part>-store.ts beside
// it: usage keeps its summaries in usage.summary-store.ts), and its services and jobs hold only rules. Read from the text of the files,
// as a newcomer would: outside the store no file runs a query, names a statement
// ('<name>:<verb>' handed to query), or spells SQL in a string.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MODULES = join(__dirname, '..', 'server', 'src', 'modules');
const filesOf = (module: string) =>
  readdirSync(join(MODULES, module))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: `${module}/${f}`, text: readFileSync(join(MODULES, module, f), 'utf8') }));

/** Modules that have a store, found in the code, so a new one is held to the rule the day it comes. */
const WITH_STORE = readdirSync(MODULES).filter((m) => existsSync(join(MODULES, m, `${m}.store.ts`)));

/** Each way a file can hold SQL, and its name in a failure. */
const SQL_SIGNS: [string, RegExp][] = [
  // (type arguments may nest, `query<Record<string, unknown>>(`; they never hold a parenthesis)
  ['runs a query', /\.query(<[^()]*>)?\(/],
  ['names a statement', /\(\s*'[\w-]+:\w+',\s*[`'"]/],
  [
    'spells SQL in a string',
    /[`'"][^`'"]*\b(SELECT\s[^`'"]*\sFROM|INSERT\s+INTO|UPDATE\s+\w+(\s+\w+)?\s+SET|DELETE\s+FROM)\b[^`'"]*[`'"]/,
  ],
];

/** A module's store files: <m>.store.ts and any <m>.<part>-store.ts. */
const isStore = (module: string, file: string) =>
  file === `${module}/${module}.store.ts` ||
  new RegExp(`^${module}/${module.replace(/[-.]/g, '\\$&')}\\.[a-z-]+-store\\.ts$`).test(file);

/** "module/file: sign" for every file of `module` but its stores that shows a sign of SQL. */
const sqlOutsideStore = (module: string) =>
  filesOf(module)
    .filter(({ file }) => !isStore(module, file))
    .flatMap(({ file, text }) => SQL_SIGNS.filter(([, re]) => re.test(text)).map(([sign]) => `${file}: ${sign}`));

describe('every module owns its SQL (a store)', () => {
  it('quota, api-keys, tenants, pricing and usage each have a store', () => {
    expect(WITH_STORE).toEqual(expect.arrayContaining(['quota', 'api-keys', 'tenants', 'pricing', 'usage']));
  });

  it('a part store is named <module>.<part>-store.ts; nothing else counts as a store', () => {
    expect(isStore('usage', 'usage/usage.summary-store.ts')).toBe(true);
    expect(isStore('usage', 'usage/usage.store.ts')).toBe(true);
    expect(isStore('usage', 'usage/usage.summary.ts')).toBe(false);
    expect(isStore('usage', 'usage/usage.restore.ts')).toBe(false);
    expect(isStore('usage', 'usage/quota.summary-store.ts')).toBe(false);
    expect(isStore('api-keys', 'api-keys/api-keys.cache-store.ts')).toBe(true);
  });

  it.each(WITH_STORE)('all SQL of %s is in its store', (module) => {
    expect(sqlOutsideStore(module)).toEqual([]);
  });

  it("api-keys and pricing read no tenants table: they ask the tenants service (a tenant's existence, its currency)", () => {
    const readsTenants = (module: string) =>
      filesOf(module)
        .filter(({ text }) => /\b(FROM|JOIN)\s+tenants\b/i.test(text))
        .map(({ file }) => file);
    expect([...readsTenants('api-keys'), ...readsTenants('pricing')]).toEqual([]);
    // ...and the check would see it: tenants' own store reads its table that way
    expect(readsTenants('tenants')).toEqual(['tenants/tenants.store.ts']);
  });

  it('the reader is not blind: it sees each kind of SQL in every store', () => {
    const signsIn = (module: string, file: string) => {
      const text = readFileSync(join(MODULES, module, file), 'utf8');
      return SQL_SIGNS.filter(([, re]) => re.test(text)).map(([sign]) => sign);
    };
    const all = SQL_SIGNS.map(([sign]) => sign);
    for (const m of ['api-keys', 'tenants', 'pricing']) expect(signsIn(m, `${m}.store.ts`)).toEqual(all);
    expect(signsIn('quota', 'quota.store.ts')).toEqual(all);
    expect(signsIn('usage', 'usage.store.ts')).toEqual(all);
    expect(signsIn('usage', 'usage.summary-store.ts')).toEqual(['runs a query', 'spells SQL in a string']);
  });
});
