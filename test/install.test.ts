// `npm ci` on the oldest Node the README and `engines` claim must install without a
// warning: every locked package has to accept that Node. (A package that wants a newer
// Node prints EBADENGINE and may use what the claimed Node lacks.)
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { expect, it } from 'vitest';

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
const lock = JSON.parse(read('package-lock.json')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
};

it('every locked package accepts the oldest Node that package.json and the README claim', () => {
  const oldest = semver.minVersion(pkg.engines.node)?.version;
  expect(oldest).toBeDefined();
  expect(read('README.md')).toContain(`Node.js (${pkg.engines.node.replace('>=', '')}+)`);
  expect(semver.satisfies(process.version, pkg.engines.node)).toBe(true);

  const refused = Object.entries(lock.packages)
    .filter(([, p]) => p.engines && !Array.isArray(p.engines) && p.engines.node)
    .filter(([, p]) => !semver.satisfies(oldest as string, (p.engines as { node: string }).node))
    .map(([path, p]) => `${path}@${p.version} wants node ${(p.engines as { node: string }).node}`);
  expect(refused).toEqual([]);
});
