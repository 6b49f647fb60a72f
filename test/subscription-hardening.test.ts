// Subscriptions under hostile or careless input, over a real HTTP + WebSocket server:
// arguments are honoured however they are written (inline, a variable of any name, a
// fragment, a default value); a rejected document answers that one operation with an
// `error` message and a contract code and keeps the socket; a revoked key's streams end by
// the re-check even when no revocation message arrives; /readyz turns 503 as draining begins.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../server/src/http';
import { createHarness, type Harness, RECORD } from './support/harness';
import { closeSubscribers, type Msg, WsSub, wsClient } from './support/subscribers';
import { sleep, until } from './support/wait';
import { type RecordInput, World } from './support/world';

let h: Harness;
let world: World;
let port: number;

beforeAll(async () => {
  // A short authentication cache, so the re-check of open streams' keys runs often.
  h = await createHarness('subscription-hardening', { config: { authCacheMs: 300 } });
  world = World.on(h);
  port = (await h.listen()).port;
});
afterAll(async () => {
  await closeSubscribers();
  await h?.close();
});

let seq = 0;
const record = (key: string, cost: string, extra: Partial<RecordInput> = {}) =>
  world.as(key).record({ idempotencyKey: `hard-${++seq}`, cost, ...extra });

const tenant = (name: string) => h.seed.tenant(name);

type ArgType = 'ID' | 'String';

/**
 * One subscription field with one argument, written the four ways a client may write it:
 * an inline literal, a variable of another name, inside a fragment, and a variable's default.
 */
function forms(field: string, arg: string, type: ArgType, value: string, selection: string) {
  const lit = JSON.stringify(value);
  return [
    { form: 'inline', query: `subscription { ${field}(${arg}: ${lit}) ${selection} }` },
    {
      form: 'variable of another name',
      query: `subscription($v: ${type}) { ${field}(${arg}: $v) ${selection} }`,
      variables: { v: value },
    },
    {
      form: 'fragment',
      query: `subscription { ...F } fragment F on Subscription { ${field}(${arg}: ${lit}) ${selection} }`,
    },
    { form: 'default value', query: `subscription($v: ${type} = ${lit}) { ${field}(${arg}: $v) ${selection} }` },
  ] as { form: string; query: string; variables?: Record<string, unknown> }[];
}

describe('subscription arguments, however written', () => {
  it("tenantId of another tenant is FORBIDDEN for every field, in every form; the caller's own tenant still works", async () => {
    const mine = await tenant('args-mine');
    const theirs = await tenant('args-theirs');
    const reader = await mine.key(['READ']);
    const client = wsClient(port, reader.secret, { lazy: false });
    const fields = [
      ['usageRecorded', '{ id tenant { id } }'],
      ['quotaAlerts', '{ id tenantId }'],
      ['quotaUpdated', '{ tenantId }'],
    ] as const;
    for (const [field, selection] of fields) {
      for (const f of forms(field, 'tenantId', 'ID', theirs.id, selection)) {
        const sub = new WsSub(client, f.query, f.variables);
        await until(() => sub.ended || sub.results.length > 0, `${field} ${f.form}`);
        await sleep(20);
        expect(sub.errorCodes, `${field} ${f.form}`).toEqual(['FORBIDDEN']);
        expect(sub.data, `${field} ${f.form}`).toEqual([]);
        sub.dispose();
      }
      // Own tenant, inline: answered (quotaUpdated at once), not refused.
      const own = forms(field, 'tenantId', 'ID', mine.id, selection)[0] as { query: string };
      if (field === 'quotaUpdated') {
        const sub = new WsSub(client, own.query);
        await until(() => sub.data.length === 1, 'own quotaUpdated');
        expect(sub.data[0].quotaUpdated.tenantId).toBe(mine.id);
        sub.dispose();
      }
    }
  });

  it('usageRecorded(apiKeyId) delivers only that key’s entries, in every form', async () => {
    const t = await tenant('args-key');
    const reader = await t.key(['READ']);
    const k1 = await t.key(['INGEST']);
    const k2 = await t.key(['INGEST']);
    const client = wsClient(port, reader.secret, { lazy: false });
    const subs = forms('usageRecorded', 'apiKeyId', 'ID', k1.id, '{ id apiKey { id } }').map((f) => ({
      form: f.form,
      sub: new WsSub(client, f.query, f.variables),
    }));
    // Live once each has k1's first entry.
    for (let i = 0; subs.some((s) => s.sub.data.length === 0); i++) {
      if (i > 50) throw new Error('subscriptions never became live');
      await record(k1.secret, '0');
      await sleep(100);
    }
    for (const s of subs) s.sub.results.length = 0;
    await record(k2.secret, '0.1');
    await record(k2.secret, '0.1');
    const mineRec = await record(k1.secret, '0.2');
    await until(() => subs.every((s) => s.sub.data.length >= 1), "k1's entry");
    await sleep(200);
    for (const s of subs) {
      expect(
        s.sub.data.map((d) => d.usageRecorded.id),
        s.form,
      ).toEqual([mineRec.event.id]);
      expect(s.sub.errorCodes, s.form).toEqual([]);
      s.sub.dispose();
    }
  });

  it('quotaUpdated(subject) answers the subject’s scope, in every form', async () => {
    const t = await tenant('args-subject');
    const reader = await t.key(['READ']);
    const client = wsClient(port, reader.secret, { lazy: false });
    for (const f of forms('quotaUpdated', 'subject', 'String', 'user-7', '{ tenantId subject apiKeyId }')) {
      const sub = new WsSub(client, f.query, f.variables);
      await until(() => sub.data.length >= 1 || sub.ended, `quotaUpdated ${f.form}`);
      expect(sub.data[0]?.quotaUpdated, f.form).toEqual({ tenantId: t.id, subject: 'user-7', apiKeyId: null });
      sub.dispose();
    }
    for (const f of forms('quotaUpdated', 'apiKeyId', 'ID', reader.id, '{ tenantId subject apiKeyId }')) {
      const sub = new WsSub(client, f.query, f.variables);
      await until(() => sub.data.length >= 1 || sub.ended, `quotaUpdated ${f.form}`);
      expect(sub.data[0]?.quotaUpdated, f.form).toEqual({ tenantId: t.id, subject: null, apiKeyId: reader.id });
      sub.dispose();
    }
  });
});

describe('a rejected document over graphql-ws', () => {
  it('is answered with an error message and a contract code; the socket and its other subscriptions stay', async () => {
    const t = await tenant('ws-reject');
    const reader = await t.key(['READ']);
    const closes: number[] = [];
    let connects = 0;
    const client = wsClient(port, reader.secret, {
      lazy: false,
      onClosed: (c) => closes.push(c),
      onConnected: () => connects++,
    });
    const live = new WsSub(client, 'subscription { usageRecorded { id } }');
    for (let i = 0; live.data.length === 0; i++) {
      if (i > 50) throw new Error('subscription never became live');
      await record(t.adminKey, '0');
      await sleep(100);
    }
    const deep = `subscription { usageRecorded { tenant { ${'apiKeys { tenant { '.repeat(10)}id${' } }'.repeat(10)} } } }`;
    const aliases = `subscription { usageRecorded { ${Array.from({ length: 60 }, (_, i) => `a${i}: id`).join(' ')} } }`;
    const tokens = `subscription { usageRecorded { ${'id '.repeat(3000)}} }`;
    const cases: [string, string, string][] = [
      ['syntax', 'subscription { usageRecorded { id ', 'BAD_USER_INPUT'],
      ['unknown field', 'subscription { usageRecorded { nope } }', 'BAD_USER_INPUT'],
      ['depth', deep, 'QUERY_TOO_COMPLEX'],
      ['aliases', aliases, 'QUERY_TOO_COMPLEX'],
      ['tokens', tokens, 'QUERY_TOO_COMPLEX'],
    ];
    for (const [what, query, code] of cases) {
      const bad = new WsSub(client, query);
      await until(() => bad.ended, what);
      expect(bad.errorCodes, `${what}: ${JSON.stringify(bad.error)}`).toEqual([code]);
      expect(bad.error, what).toBeInstanceOf(Array);
    }
    expect(closes).toEqual([]);
    expect(connects).toBe(1);
    // The first subscription still receives.
    const before = live.data.length;
    await record(t.adminKey, '0.1');
    await until(() => live.data.length > before, 'an event after the rejections');
    expect(live.ended).toBe(false);
    live.dispose();
  });
});

describe('bad variables over graphql-ws', () => {
  it('are BAD_USER_INPUT naming the field, as over HTTP, for a mutation and a subscription', async () => {
    const t = await tenant('ws-variables');
    const client = wsClient(port, t.adminKey);
    const cases: [string, string, Record<string, unknown>, string[]][] = [
      [
        'a bad Int deep in a mutation input',
        RECORD,
        { input: { idempotencyKey: 'ws-v-1', kind: 'LLM', model: 'm', inputTokens: 2 ** 31 } },
        ['input', 'inputTokens'],
      ],
      ['an unknown enum value', RECORD, { input: { idempotencyKey: 'ws-v-2', kind: 'CAL' } }, ['input', 'kind']],
      ['a missing required variable', RECORD, {}, ['input']],
      [
        'a subscription argument of the wrong type',
        'subscription($t: ID) { usageRecorded(tenantId: $t) { id } }',
        { t: { not: 'an id' } },
        ['t'],
      ],
    ];
    for (const [what, query, variables, field] of cases) {
      const over = new WsSub(client, query, variables);
      await until(() => over.ended, what);
      const viaWs = [...over.results.flatMap((r) => r.msg.errors ?? []), ...((over.error as Msg['errors']) ?? [])];
      const viaHttp = (await h.gql(t.adminKey, query, variables)).errors ?? [];
      // extensions.http is yoga's status hint, which only HTTP strips: the contract is code and field.
      const contract = (e: { extensions?: Record<string, unknown> }) => ({
        code: e.extensions?.code,
        field: e.extensions?.field,
      });
      expect(viaWs.map(contract), what).toEqual([{ code: 'BAD_USER_INPUT', field }]);
      expect(viaHttp.map(contract), what).toEqual([{ code: 'BAD_USER_INPUT', field }]);
      expect(
        viaWs.map((e) => e.message),
        what,
      ).toEqual(viaHttp.map((e) => e.message));
    }
  });
});

describe('revocation', () => {
  it('ends the streams of a key revoked behind the service’s back at the next re-check (within AUTH_CACHE_MS)', async () => {
    // No revocation message is published (as when it was lost with Redis): only the re-check
    // of open streams' keys against the database can end them.
    const t = await tenant('recheck');
    const reader = await t.key(['READ']);
    const closes: number[] = [];
    const ws = new WsSub(
      wsClient(port, reader.secret, { lazy: false, onClosed: (c) => closes.push(c) }),
      '{ viewer { isOperator } }',
    );
    await until(() => ws.ended, 'a query');
    const sub = new WsSub(
      wsClient(port, reader.secret, { lazy: false, onClosed: (c) => closes.push(c) }),
      'subscription { usageRecorded { id } }',
    );
    const res = fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: {
        accept: 'text/event-stream',
        'content-type': 'application/json',
        authorization: `Bearer ${reader.secret}`,
      },
      body: JSON.stringify({ query: 'subscription { usageRecorded { id } }' }),
    });
    const body = (await res).body as unknown as AsyncIterable<Uint8Array>;
    let sseEnded = false;
    void (async () => {
      for await (const _ of body);
      sseEnded = true;
    })().catch(() => {
      sseEnded = true;
    });
    for (let i = 0; sub.data.length === 0; i++) {
      if (i > 50) throw new Error('subscription never became live');
      await record(t.adminKey, '0');
      await sleep(100);
    }
    await h.sql('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [reader.id]);
    await until(() => sub.ended && sseEnded, 'the streams to end', 3_000);
    expect(closes).toContain(4403);
  });
});

describe('/readyz', () => {
  it('answers 503 as soon as draining starts', async () => {
    // Its own server (not the harness's, which stops it again at the end).
    const server = await serve(h.app, h.db, { port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20 });
    expect((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(200);
    // A load balancer's probe whose request is already arriving when the drain begins.
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let answer = '';
    socket.on('data', (c) => {
      answer += c.toString();
    });
    socket.write('GET /readyz HTTP/1.1\r\nHost: tally\r\n');
    await sleep(50);
    const stopping = server.stop(2_000);
    await sleep(20);
    socket.write('\r\n');
    await until(() => answer.includes('}'), 'the readyz answer', 2_000);
    expect(answer).toMatch(/^HTTP\/1\.1 503/);
    expect(answer).toContain('"status":"draining"');
    socket.destroy();
    await stopping;
  });
});
