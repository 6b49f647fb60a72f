// npm run build (and npm start, through prestart): the server as one ES module in dist/,
// so production runs plain `node` instead of the tsx loader (which keeps a loader thread
// and the TypeScript sources in memory: about 45 MB of RSS). Dependencies stay external.
import { build } from 'esbuild';
import { buildDashboard } from './build-dashboard.mjs';

const started = Date.now();
await build({
  entryPoints: ['server/src/main.ts'],
  outfile: 'dist/server.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
process.stderr.write(`built dist/server.mjs in ${Date.now() - started} ms\n`);
await buildDashboard();
