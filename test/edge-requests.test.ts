// Requests a new user and an attacker sent in the first trial of the hardened service, each of
// which got an answer the contract does not allow: unreadable request parameters (INTERNAL, or
// the whole body echoed), graphql-ws operations with no code or an uncut message, a silent
// stream for a key that does not exist, SSE streams cut only when the grace ran out, and
// `npm start` leaving the server running when a supervisor signals npm.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { freePort } from '../server/src/db/embedded';
import { createHarness, freshDatabase, type Harness, OPERATOR_KEY } from './support/harness';
import { until } from './support/wait';

let h: Harness;
let base: string;
let admin: string;
let tenantId: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  h = await createHarness('edge-requests');
  const s = await h.listen();
  base = `http://127.0.0.1:${s.port}`;
  const t = await h.seed.tenant('edge');
  admin = t.adminKey;
  tenantId = t.id;
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await h?.close();
});

const errorsOf = async (res: Response) => {
  const text = await res.text();
  return {
    status: res.status,
    size: text.length,
    body: JSON.parse(text) as { errors: { message: string; extensions: Record<string, unknown> }[] },
  };
};

describe('request parameters that cannot be read', () => {
  it('a GET whose variables or extensions are not JSON is BAD_USER_INPUT, with or without a key, never INTERNAL', async () => {
    const internalBefore = (await (await fetch(`${base}/metrics`)).text()).match(
      /tally_graphql_errors_total\{code="INTERNAL"\} (\d+)/,
    )?.[1];
    for (const qs of ['variables={x', 'extensions={x', 'variables=[1,']) {
      for (const headers of [{}, { authorization: `Bearer ${admin}` }] as Record<string, string>[]) {
        const r = await errorsOf(
          await fetch(`${base}/graphql?query=${encodeURIComponent('{viewer{isOperator}}')}&${qs}`, { headers }),
        );
        expect(r.status, qs).toBe(400);
        expect(r.body.errors[0]?.extensions.code, qs).toBe('BAD_USER_INPUT');
      }
    }
    const form = await errorsOf(
      await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'query={viewer{isOperator}}&variables={x',
      }),
    );
    expect(form.body.errors[0]?.extensions.code).toBe('BAD_USER_INPUT');
    const internalAfter = (await (await fetch(`${base}/metrics`)).text()).match(
      /tally_graphql_errors_total\{code="INTERNAL"\} (\d+)/,
    )?.[1];
    expect(internalAfter).toBe(internalBefore);
  });

  it('a POST body that is not JSON is answered briefly, without echoing it or the parser internals', async () => {
    const body = `{"query": "${'y'.repeat(1_000_000)}`;
    const r = await errorsOf(
      await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
    );
    expect(r.status).toBe(400);
    expect(r.body.errors[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(r.body.errors[0]?.extensions).not.toHaveProperty('originalError');
    expect(r.size).toBeLessThan(1000);
  });
});

describe('graphql-ws operations', () => {
  /** Sends one subscribe on a fresh socket and returns the first message answering it. */
  async function answerTo(payload: Record<string, unknown>) {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    const messages: { type: string; payload?: unknown }[] = [];
    ws.on('message', (m) => messages.push(JSON.parse(String(m))));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${admin}` } }));
    await until(() => messages.some((m) => m.type === 'connection_ack'), 'connection_ack');
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload }));
    await until(() => messages.some((m) => m.type === 'error' || m.type === 'next'), 'an answer to the subscribe');
    const answer = messages.find((m) => m.type === 'error' || m.type === 'next');
    const open = ws.readyState === WebSocket.OPEN;
    ws.close();
    return { answer, raw: JSON.stringify(answer), open };
  }

  it('an operationName the document does not have is BAD_USER_INPUT naming operationName; the socket stays', async () => {
    const a = await answerTo({ query: 'subscription A { quotaAlerts { id } }', operationName: 'B' });
    expect(a.answer?.type).toBe('error');
    const [e] = (a.answer?.payload ?? []) as { extensions: { code: string; field: string[] } }[];
    expect(e?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['operationName'] });
    expect(a.open).toBe(true);
    const several = await answerTo({
      query: 'subscription A { quotaAlerts { id } } subscription C { quotaAlerts { id } }',
    });
    expect(((several.answer?.payload ?? []) as { extensions: { code: string } }[])[0]?.extensions.code).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('a syntax error quoting a 1 MB token is cut as over HTTP, with no transport internals', async () => {
    const a = await answerTo({ query: `subscription A ${'y'.repeat(1_000_000)}` }); // Unexpected Name "yyy…"
    expect(a.answer?.type).toBe('error');
    expect(a.raw.length).toBeLessThan(2000);
    const [e] = (a.answer?.payload ?? []) as { extensions: Record<string, unknown> }[];
    expect(e?.extensions.code).toBe('BAD_USER_INPUT');
    expect(e?.extensions).not.toHaveProperty('http');
  });
});

describe('usageRecorded', () => {
  it("an apiKeyId that is not this tenant's key, or not an id, is NOT_FOUND naming apiKeyId, as quotaUpdated answers", async () => {
    const other = await h.seed.tenant('edge-other');
    const otherKey = await other.key(['READ']);
    for (const apiKeyId of [otherKey.id, 'not-a-uuid']) {
      const res = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${admin}` },
        body: JSON.stringify({
          query: 'subscription($k: ID) { usageRecorded(apiKeyId: $k) { id } }',
          variables: { k: apiKeyId },
        }),
        signal: AbortSignal.timeout(5000),
      });
      const text = await res.text(); // the stream ends: it does not stay open and silent
      expect(text, apiKeyId).toContain('"NOT_FOUND"');
      expect(text).toContain('"apiKeyId"');
    }
    const op = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Bearer ${OPERATOR_KEY}`,
      },
      body: JSON.stringify({
        query: `subscription { usageRecorded(tenantId: "${tenantId.replace(/.$/, tenantId.endsWith('0') ? '1' : '0')}") { id } }`,
      }),
      signal: AbortSignal.timeout(5000),
    });
    expect(await op.text()).toContain('"NOT_FOUND"');
  });
});

describe('shutdown', () => {
  it('ends open SSE streams with a retryable error as soon as draining starts, not when the grace runs out', async () => {
    const h2 = await createHarness('edge-drain');
    try {
      const s = await h2.listen();
      const t = await h2.seed.tenant('drain');
      const res = await fetch(`http://127.0.0.1:${s.port}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Bearer ${t.adminKey}`,
        },
        body: JSON.stringify({ query: 'subscription { quotaAlerts { id } }' }),
      });
      expect(res.status).toBe(200);
      const text = res.text();
      await new Promise((r) => setTimeout(r, 200));
      const started = performance.now();
      await s.stop(8_000);
      const stopMs = performance.now() - started;
      const body = await text;
      expect(body).toContain('"retryable":true'); // clients subscribe again, to another instance
      expect(body).toContain('event: complete');
      expect(stopMs).toBeLessThan(4_000);
    } finally {
      await h2.close();
    }
  });

  it('a SIGTERM to `npm start` (what a supervisor sends) stops the server too', async () => {
    const url = await freshDatabase('edge-npm');
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      env: {
        ...process.env,
        DATABASE_URL: url,
        PORT: String(port),
        TALLY_OPERATOR_KEY: OPERATOR_KEY,
        TALLY_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'tally-npm-')),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(npm);
    const ready = async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;
      } catch {
        return false;
      }
    };
    await until(ready, 'npm start to serve', 30_000, 100);
    npm.kill('SIGTERM');
    // Fails with this message while the server still answers after npm start was told to stop.
    await until(async () => !(await ready()), 'the server to stop after npm start got SIGTERM', 10_000, 100);
  });
});
