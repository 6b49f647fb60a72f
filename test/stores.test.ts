// "Every module owns its SQL (a store)": a module with a <module>.store.ts keeps every
// statement there, and its services and jobs hold only rules. Read from the text of the files,
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
  ['runs a query', /\.query(<[^>]*>)?\(/],
  ['names a statement', /\(\s*'[\w-]+:\w+',\s*[`'"]/],
  [
    'spells SQL in a string',
    /[`'"][^`'"]*\b(SELECT\s[^`'"]*\sFROM|INSERT\s+INTO|UPDATE\s+\w+(\s+\w+)?\s+SET|DELETE\s+FROM)\b[^`'"]*[`'"]/,
  ],
];

/** "module/file: sign" for every file of `module` but its store that shows a sign of SQL. */
const sqlOutsideStore = (module: string) =>
  filesOf(module)
    // A store may be split into parts: <module>.store.ts and <module>.<part>.store.ts.
    .filter(({ file }) => !new RegExp(`^${module}/${module}(\\.[\\w-]+)?\\.store\\.ts$`).test(file))
    .flatMap(({ file, text }) => SQL_SIGNS.filter(([, re]) => re.test(text)).map(([sign]) => `${file}: ${sign}`));

describe('every module owns its SQL (a store)', () => {
  it('quota, api-keys, tenants and pricing each have a store', () => {
    expect(WITH_STORE).toEqual(expect.arrayContaining(['quota', 'api-keys', 'tenants', 'pricing']));
  });

  it.each(WITH_STORE)('all SQL of %s is in its store', (module) => {
    expect(sqlOutsideStore(module)).toEqual([]);
  });

  it('the reader is not blind: it sees each kind of SQL in the stores, and in usage (no store yet)', () => {
    const signsIn = (module: string, file: string) => {
      const text = readFileSync(join(MODULES, module, file), 'utf8');
      return SQL_SIGNS.filter(([, re]) => re.test(text)).map(([sign]) => sign);
    };
    const all = SQL_SIGNS.map(([sign]) => sign);
    for (const m of ['api-keys', 'tenants', 'pricing']) expect(signsIn(m, `${m}.store.ts`)).toEqual(all);
    expect(signsIn('quota', 'quota.store.ts')).toEqual(all);
    expect(signsIn('usage', 'usage.summary.ts')).toContain('spells SQL in a string');
  });
});
