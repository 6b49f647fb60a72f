// The HTTP server: the dashboard at / (dashboard.ts), /graphql (yoga), the CSV exports
// (/export/*.csv: export.ts), /healthz, /readyz, /metrics, a request body limit, and a
// graceful stop (no new requests, in-flight ones finish, then the pool closes).
import http from 'node:http';
import net from 'node:net';
import type { App } from './app';
import { serveDashboard } from './dashboard';
import type { Database } from './db/database';
import { isExportPath, serveExport } from './export';
import { StartupError } from './lib/startup-error';
import { requestIdFrom } from './request-scope';
import { attachWebSocket } from './ws';

export interface Server {
  server: http.Server;
  port: number;
  stop: (graceMs?: number) => Promise<void>;
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

export async function serve(
  app: App,
  db: Database,
  opts: { port: number; host?: string; maxBodyBytes: number },
): Promise<Server> {
  let inflight = 0;
  let draining = false;
  const server = http.createServer((req, res) => {
    inflight++;
    res.on('close', () => inflight--);
    // While draining, every answer closes its connection, so keep-alive clients move on.
    if (draining) res.setHeader('connection', 'close');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (serveDashboard(req, res, path)) return;
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      // A load balancer stops sending new work the moment the drain begins.
      if (draining) return json(res, 503, { status: 'draining' });
      // Pub/sub counts too: with Redis away, live subscriptions here would miss events.
      const pubsub = app.pubsubHealth;
      void db.ping().then((ok) => {
        const ready = ok && pubsub.healthy();
        const status = !ok ? 'database unreachable' : ready ? 'ready' : 'pub/sub unreachable';
        json(res, ready ? 200 : 503, { status, pubsub: pubsub.state() });
      });
      return;
    }
    if (path === '/metrics') {
      void app.metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': app.metrics.registry.contentType });
        res.end(text);
      });
      return;
    }
    if (isExportPath(path)) {
      const id = requestIdFrom(req.headers['x-request-id'] as string | undefined);
      void serveExport(app, req, res, path, id);
      return;
    }
    if (req.method === 'POST') {
      const length = Number(req.headers['content-length']);
      const tooLarge = {
        errors: [{ message: `request body over ${opts.maxBodyBytes} bytes`, extensions: { code: 'BAD_USER_INPUT' } }],
      };
      if (req.headers['content-length'] == null) {
        // Counting a chunked body as it streams keeps the limit without a Content-Length.
        let seen = 0;
        req.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > opts.maxBodyBytes) {
            json(res, 413, tooLarge);
            req.destroy();
          }
        });
      } else if (!Number.isFinite(length) || length > opts.maxBodyBytes) return json(res, 413, tooLarge);
    }
    // The request's id, as yoga will read it (app.ts's request log): the caller's when sane.
    req.headers['x-request-id'] = requestIdFrom(req.headers['x-request-id'] as string | undefined);
    void app.yoga(req, res);
  });
  server.keepAliveTimeout = 65_000;
  // Listen first: a taken port must fail here, not reach the WebSocket server as an error.
  await listenOn(server, opts.port, opts.host ?? '0.0.0.0');
  const ws = attachWebSocket(server, app);
  let stopping: Promise<void> | null = null;
  const port = (server.address() as { port: number }).port;

  return {
    server,
    port,
    stop(graceMs = 10_000) {
      // Once: a second call (a signal during the drain, a test's cleanup) waits for the first.
      stopping ??= drain(graceMs);
      return stopping;
    },
  };

  async function drain(graceMs: number) {
    draining = true;
    // SSE streams end now with `complete`, so their clients reconnect elsewhere at once.
    app.revocations.drain();
    await ws.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Requests already on the wire finish; a connection is closed only once nothing has
    // been in flight for a quiet moment (a request whose headers are still arriving on an
    // open connection is not cut off). After the grace period, everything is closed.
    const deadline = Date.now() + graceMs;
    let quiet = 0;
    while (Date.now() < deadline && quiet < 3) {
      await new Promise((r) => setTimeout(r, 50));
      quiet = inflight === 0 ? quiet + 1 : 0;
      if (quiet) server.closeIdleConnections();
    }
    server.closeAllConnections();
    await closed;
  }
}

/** Listens, or fails with one line naming the port (a StartupError) when it cannot be had. */
function listenOn(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') throw err;
    throw new StartupError(
      err.code === 'EADDRINUSE'
        ? `port ${port} (PORT) is taken by another process: stop that process or set PORT to a free port`
        : `port ${port} (PORT) needs privileges this process lacks: set PORT to a port above 1023`,
    );
  });
}

/**
 * Fails at once, before the database is started or migrated, when PORT cannot be had. (The
 * port may still be taken in between; serve() then says the same.)
 */
export async function checkPortFree(port: number, host = '0.0.0.0'): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  await listenOn(probe, port, host);
  await new Promise<void>((r) => probe.close(() => r()));
}
