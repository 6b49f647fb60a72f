// The dashboard (dashboard/src, Preact + uPlot on @tally/client) as static assets in
// dist/dashboard/: content-hashed JS and CSS under assets/ (cached forever) and index.html
// naming them (never cached). Run by scripts/build.mjs (npm start's prestart) and by the
// tests' global setup.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { build } from 'esbuild';

export async function buildDashboard({ outdir = 'dist/dashboard' } = {}) {
  const started = Date.now();
  const tmp = `${outdir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  const result = await build({
    entryPoints: { app: 'dashboard/src/main.tsx', style: 'dashboard/src/style.css' },
    outdir: `${tmp}/assets`,
    entryNames: '[name]-[hash]',
    // Pages loaded on demand (the Prices page's LiteLLM import) get their own chunks.
    splitting: true,
    chunkNames: 'chunk-[hash]',
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    // The client loads `ws` only where no WebSocket is global (Node 20); browsers have one.
    external: ['ws'],
    alias: { '@tally/client': './client/src/index.ts' },
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((p) => p.startsWith('app-') && p.endsWith('.js'));
  const css = outputs.find((p) => p.startsWith('style-') && p.endsWith('.css'));
  const html = (await readFile('dashboard/index.html', 'utf8')).replace('__JS__', js).replace('__CSS__', css);
  await writeFile(`${tmp}/index.html`, html);
  // Swap the whole folder in at once: a server reading it never sees half a build.
  await mkdir(outdir, { recursive: true });
  const old = `${outdir}.old-${process.pid}`;
  const { rename } = await import('node:fs/promises');
  await rename(outdir, old).catch(() => {});
  await rename(tmp, outdir);
  await rm(old, { recursive: true, force: true });
  process.stderr.write(`built ${outdir} (${js}) in ${Date.now() - started} ms\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await buildDashboard();
