// One attempt: a signed POST per Standard Webhooks, to an address checked after DNS resolution
// (webhooks.address.ts), with one deadline for connect, answer and body, the body read to
// MAX_RESPONSE_BYTES and dropped, and no redirect followed (a 3xx is a failed attempt).
import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import { AddressNotAllowed, literalRefusal, pinnedLookup } from './webhooks.address';
import { MAX_RESPONSE_BYTES } from './webhooks.options';

export type AttemptOutcome =
  | 'SUCCESS'
  | 'HTTP_ERROR'
  | 'REDIRECT'
  | 'TIMEOUT'
  | 'CONNECTION_REFUSED'
  | 'DNS_FAILURE'
  | 'ADDRESS_NOT_ALLOWED'
  | 'NETWORK_ERROR';

export interface AttemptResult {
  outcome: AttemptOutcome;
  /** The answer's HTTP status, when one came. */
  status: number | null;
  /** Why, for failures without a status (never the receiver's body). */
  error: string | null;
  durationMs: number;
}

export interface SignedMessage {
  url: string;
  secret: string;
  /** The webhook-id header: the delivery's, the same on every attempt. */
  eventId: string;
  /** The request body (JSON text). */
  body: string;
}

const USER_AGENT = 'Tally-Webhooks/1';

export function signedHeaders(m: SignedMessage, at = new Date()): Record<string, string> {
  const signature = new Webhook(m.secret).sign(m.eventId, at, m.body);
  return {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': m.eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
  };
}

export function send(m: SignedMessage, opts: { timeoutMs: number; allowPrivate: boolean }): Promise<AttemptResult> {
  const started = performance.now();
  const done = (outcome: AttemptOutcome, status: number | null, error: string | null): AttemptResult => ({
    outcome,
    status,
    error: error === null ? null : error.slice(0, 300),
    durationMs: Math.round(performance.now() - started),
  });
  let url: URL;
  try {
    url = new URL(m.url);
  } catch {
    return Promise.resolve(done('NETWORK_ERROR', null, 'invalid URL'));
  }
  const refused = literalRefusal(url.hostname, opts.allowPrivate);
  if (refused) return Promise.resolve(done('ADDRESS_NOT_ALLOWED', null, refused.message));
  const body = Buffer.from(m.body);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const finish = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = client.request(url, {
      method: 'POST',
      headers: { ...signedHeaders(m), 'content-length': String(body.length) },
      lookup: pinnedLookup(opts.allowPrivate),
      agent: false,
    });
    const timer = setTimeout(
      () => finish(done('TIMEOUT', null, `no complete answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      let read = 0;
      const end = () =>
        finish(
          status >= 200 && status < 300
            ? done('SUCCESS', status, null)
            : status >= 300 && status < 400
              ? done('REDIRECT', status, 'redirects are not followed')
              : done('HTTP_ERROR', status, null),
        );
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= MAX_RESPONSE_BYTES) end();
      });
      res.on('end', end);
      res.on('error', end);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof AddressNotAllowed) return finish(done('ADDRESS_NOT_ALLOWED', null, err.message));
      const code = err.code ?? '';
      if (code === 'ECONNREFUSED') return finish(done('CONNECTION_REFUSED', null, 'connection refused'));
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
        return finish(done('DNS_FAILURE', null, `${code} ${url.hostname}`));
      finish(done('NETWORK_ERROR', null, code || err.message));
    });
    req.end(body);
  });
}
