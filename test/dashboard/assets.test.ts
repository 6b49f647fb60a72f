// The dashboard's static routes (server/src/dashboard.ts through http.ts) over real HTTP:
// content types, caching, gzip, HEAD, nothing outside the built folder, the API untouched.
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from '../../server/src/http';
import { createHarness, type Harness } from '../support/harness';

let h: Harness;
let server: Server;
const raw = (path: string, opts: { method?: string; headers?: Record<string, string> } = {}) =>
  new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, path, method: opts.method ?? 'GET', headers: opts.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });

beforeAll(async () => {
  h = await createHarness('dash_assets');
  server = await h.listen();
});
afterAll(() => h?.close());

describe('dashboard assets', () => {
  it('serves the page at / (revalidated) naming hashed assets (cached for a year), gzipped when asked', async () => {
    const page = await raw('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    const html = page.body.toString();
    const js = /src="(\/assets\/app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    const css = /href="(\/assets\/style-[A-Z0-9]+\.css)"/.exec(html)?.[1];
    expect(js).toBeDefined();
    expect(css).toBeDefined();
    const plain = await raw(js as string);
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const zipped = await raw(js as string, { headers: { 'accept-encoding': 'gzip, br' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
    expect(zipped.body.length).toBeLessThan(300 * 1024);
    expect((await raw(css as string)).headers['content-type']).toBe('text/css; charset=utf-8');
    const head = await raw('/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers['content-length'])).toBe(page.body.length);
  });

  it('serves nothing outside the built folder, and leaves the API and health routes alone', async () => {
    for (const path of ['/assets/../package.json', '/assets/%2e%2e/package.json', '/assets/nope.js', '/package.json'])
      expect((await raw(path)).status, path).toBe(404);
    expect((await raw('/', { method: 'POST' })).status).not.toBe(200);
    expect((await raw('/healthz')).body.toString()).toBe('{"status":"ok"}');
    const gql = await raw('/graphql', { method: 'GET', headers: { accept: 'text/html' } });
    expect(gql.status).toBe(200);
    expect(gql.body.toString()).toContain('Tally GraphiQL');
    expect(gql.body.toString()).not.toMatch(/https:\/\/unpkg|cdn\.jsdelivr/);
  });
});
