// The dashboard's static assets (built by scripts/build-dashboard.mjs into dist/dashboard,
// or TALLY_DASHBOARD_DIR): `/` and /index.html are the app's page (revalidated on every
// load), /assets/* are content-hashed (cached for a year, immutable). Files are read once and
// kept in memory with their gzip; nothing outside the folder can be named.
import { readdirSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
  cache: string;
}

function load(dir: string): Map<string, Asset> {
  const files = new Map<string, Asset>();
  const add = (url: string, file: string, cache: string) => {
    const body = readFileSync(file);
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    files.set(url, { body, gzip: gzipSync(body), type, cache });
  };
  try {
    add('/', path.join(dir, 'index.html'), 'no-cache');
    files.set('/index.html', files.get('/') as Asset);
    for (const name of readdirSync(path.join(dir, 'assets')))
      add(`/assets/${name}`, path.join(dir, 'assets', name), 'public, max-age=31536000, immutable');
  } catch {
    // Not built: `/` says how, rather than a bare 404.
    const body = Buffer.from('The dashboard is not built: run `npm run build` (npm start does it).\n');
    files.set('/', { body, gzip: gzipSync(body), type: 'text/plain; charset=utf-8', cache: 'no-store' });
  }
  return files;
}

let cached: { dir: string; files: Map<string, Asset> } | null = null;

/** Answers a dashboard path (true), or leaves the request alone (false). */
export function serveDashboard(req: http.IncomingMessage, res: http.ServerResponse, urlPath: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (urlPath !== '/' && urlPath !== '/index.html' && !urlPath.startsWith('/assets/')) return false;
  const dir = path.resolve(process.env.TALLY_DASHBOARD_DIR ?? 'dist/dashboard');
  if (cached?.dir !== dir) cached = { dir, files: load(dir) };
  const asset = cached.files.get(urlPath);
  if (!asset) return false;
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = gzip ? asset.gzip : asset.body;
  res.writeHead(200, {
    'content-type': asset.type,
    'cache-control': asset.cache,
    'content-length': body.length,
    'x-content-type-options': 'nosniff',
    vary: 'accept-encoding',
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
