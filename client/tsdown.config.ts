// The published package (npm pack --workspace @tally/client builds it through `prepack`):
//   dist/index.js + index.d.ts     ESM, for `import`
//   dist/index.cjs + index.d.cts   CommonJS, for `require`
//   dist/cli.js                    the `tally` bin, plain Node, no TypeScript at run time
// `dependencies` and `peerDependencies` stay imports; everything else the code uses (gql.tada's
// 1 kB runtime and its types, the CLI's commander, cli-progress, decimal.js) is bundled, so an
// install pulls nothing else. p-retry is ESM-only, so the CommonJS build bundles it too.
import { defineConfig, type UserConfig } from 'tsdown';

const shared = {
  tsconfig: 'tsconfig.json',
  target: 'es2022',
  sourcemap: false,
  report: false,
  fixedExtension: false,
} as const;

/** The `tally` bin. The tests build this same entry into a folder of their own (test/support/global-setup.ts). */
export const cliBuild = {
  ...shared,
  entry: { cli: 'cli/bin.ts' },
  format: 'esm',
  platform: 'node',
  dts: false,
  clean: false,
  banner: { js: '#!/usr/bin/env node' },
} as const satisfies UserConfig;

export default defineConfig([
  {
    ...shared,
    entry: { index: 'src/index.ts' },
    format: 'esm',
    platform: 'neutral',
    dts: true,
    clean: true,
  },
  {
    ...shared,
    entry: { index: 'src/index.ts' },
    format: 'cjs',
    platform: 'node',
    dts: true,
    clean: false,
    deps: { alwaysBundle: ['p-retry', 'is-network-error'] },
  },
  cliBuild,
]);
