// An open-loop load: requests are sent at a fixed rate whatever the answers do (not N clients
// each waiting for its answer, which measures saturation), and each latency is counted from
// the instant the request was due, so a stalled server cannot hide its queue (no coordinated
// omission). Requests go round-robin over the bases (server instances) and the keys.
import http from 'node:http';

/** The nearest-rank quantile q of xs (NaN when empty); xs is not changed. */
export const quantile = (xs: number[], q: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? Number.NaN;

export interface OpenLoopResult {
  /** Requests due and sent. */
  sent: number;
  /** Answered 200 without GraphQL errors. */
  ok: number;
  errors: number;
  /** Answers per second over the run. */
  achieved: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export async function openLoop(opts: {
  bases: string[];
  keys: string[];
  body: (i: number) => string;
  rate: number;
  seconds: number;
}): Promise<OpenLoopResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  let sent = 0;
  const start = performance.now();
  const total = Math.floor(opts.rate * opts.seconds);
  const inflight = new Set<Promise<void>>();

  const send = (i: number, due: number) => {
    const base = new URL(opts.bases[i % opts.bases.length] as string);
    const payload = opts.body(i);
    const p = new Promise<void>((resolve) => {
      const req = http.request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          path: '/graphql',
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            authorization: `Bearer ${opts.keys[i % opts.keys.length]}`,
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => {
            latencies.push(performance.now() - due);
            if (res.statusCode === 200 && !text.includes('"errors"')) ok++;
            else errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(payload);
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };

  // Every millisecond (or as soon as the timer fires), send everything that is due by now.
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total) {
        const due = start + (sent * 1000) / opts.rate;
        if (due > now) break;
        send(sent, due);
        sent++;
      }
      if (sent >= total) done();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  return {
    sent,
    ok,
    errors,
    achieved: latencies.length / elapsed,
    p50: quantile(latencies, 0.5),
    p90: quantile(latencies, 0.9),
    p99: quantile(latencies, 0.99),
    max: quantile(latencies, 1),
  };
}
