// One attempt: a signed POST per Standard Webhooks, to an address checked after DNS resolution
// (webhooks.address.ts), with one deadline for connect, answer and body, the body read to
// MAX_RESPONSE_BYTES and dropped, and no redirect followed (a 3xx is a failed attempt).
import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import { AddressNotAllowed, literalRefusal, pinnedLookup } from './webhooks.address';
import { MAX_RESPONSE_BYTES } from './webhooks.options';

/** What an attempt can come to (a fixed set: also the metric's label values). */
export const ATTEMPT_OUTCOMES = [
  'SUCCESS',
  'HTTP_ERROR',
  'REDIRECT',
  'TIMEOUT',
  'CONNECTION_REFUSED',
  'DNS_FAILURE',
  'ADDRESS_NOT_ALLOWED',
  'NETWORK_ERROR',
] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

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

/**
 * Keep-alive connections of one worker (never shared between workers, whose address rules may
 * differ): a socket is made through the pinned lookup and stays connected to the address that
 * was checked; one whose answer was cut short is destroyed, not reused.
 */
export interface Agents {
  http: http.Agent;
  https: https.Agent;
}

export function createAgents(): Agents {
  const o = { keepAlive: true, maxSockets: 64, maxFreeSockets: 32, timeout: 30_000 };
  return { http: new http.Agent(o), https: new https.Agent(o) };
}

export function send(
  m: SignedMessage,
  opts: { timeoutMs: number; allowPrivate: boolean; agents?: Agents },
): Promise<AttemptResult> {
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
  const secure = url.protocol === 'https:';
  const client = secure ? https : http;
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    /** `complete`: the answer was read to its end, so its socket may serve the next attempt. */
    const finish = (r: AttemptResult, complete = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!complete) req.destroy();
      resolve(r);
    };
    const req = client.request(url, {
      method: 'POST',
      headers: { ...signedHeaders(m), 'content-length': String(body.length) },
      lookup: pinnedLookup(opts.allowPrivate),
      agent: opts.agents ? (secure ? opts.agents.https : opts.agents.http) : false,
    });
    const timer = setTimeout(
      () => finish(done('TIMEOUT', null, `no complete answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      let read = 0;
      const end = (complete: boolean) =>
        finish(
          status >= 200 && status < 300
            ? done('SUCCESS', status, null)
            : status >= 300 && status < 400
              ? done('REDIRECT', status, 'redirects are not followed')
              : done('HTTP_ERROR', status, null),
          complete,
        );
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= MAX_RESPONSE_BYTES) end(false);
      });
      res.on('end', () => end(true));
      res.on('error', () => end(false));
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
