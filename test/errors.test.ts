// An unexpected failure reaches the client as INTERNAL with no internals (no SQL, no stack),
// carries the request id, and the server log holds the real error under that same id.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, type Harness, RECORD } from './support/harness';

const lines: Record<string, unknown>[] = [];
let h: Harness;
beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  h = await createHarness('errors', { logger: pino({ level: 'info' }, sink) });
});
afterAll(async () => h?.close());

/** A GraphQL POST to the listening server, with a key (or none) and an x-request-id. */
const post = (port: number, key: string | null, requestId: string, payload: object) =>
  fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      'x-request-id': requestId,
    },
    body: JSON.stringify(payload),
  });

it('masks an unexpected error, logs it with the request id, and keeps serving', async () => {
  const t = await h.seed.tenant('errors');
  const s = await h.listen();
  // Break the database under the service: the rollup table disappears.
  await h.sql('ALTER TABLE usage_rollups_hourly RENAME TO usage_rollups_hourly_gone');
  const res = await post(s.port, t.adminKey, 'req-broken-1', {
    query: RECORD,
    variables: { input: { idempotencyKey: 'e1', kind: 'CALL', cost: '1' } },
  });
  const body = await res.text();
  expect(res.headers.get('x-request-id')).toBe('req-broken-1');
  const answer = JSON.parse(body);
  expect(answer.errors[0].extensions).toEqual({ code: 'INTERNAL', requestId: 'req-broken-1' });
  expect(body).not.toMatch(/usage_rollups|relation|SELECT|INSERT|at .*\.ts/i);

  const logged = lines.find((l) => l.msg === 'unexpected error' && l.requestId === 'req-broken-1') as {
    err: { message: string };
  };
  expect(logged?.err.message).toMatch(/usage_rollups_hourly/);
  const access = lines.find((l) => l.msg === 'graphql' && l.requestId === 'req-broken-1');
  expect(access).toMatchObject({ operation: 'recordUsage', status: 200 }); // the root field, never the client's name

  // Nothing half-written: the ledger insert rolled back with the failed rollup upsert.
  const [{ n }] = await h.sql('SELECT count(*)::int AS n FROM usage_events');
  expect(n).toBe(0);
  await h.sql('ALTER TABLE usage_rollups_hourly_gone RENAME TO usage_rollups_hourly');
  const ok = await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'e1', kind: 'CALL', cost: '1' } });
  expect(ok.recordUsage.outcome).toBe('CREATED');
});

it('an unexpected failure before the operation runs (authenticating the key) is masked and logged with the request id too', async () => {
  const t = await h.seed.tenant('errors-context');
  const s = await h.listen();
  // The key was never seen by this server (no cached answer): authenticating it must read api_keys.
  await h.sql('ALTER TABLE api_keys RENAME TO api_keys_gone');
  try {
    const res = await post(s.port, t.adminKey, 'req-context-1', { query: '{ viewer { isOperator } }' });
    const body = await res.text();
    expect(res.headers.get('x-request-id')).toBe('req-context-1');
    const answer = JSON.parse(body) as { errors: { extensions: Record<string, unknown> }[] };
    expect(answer.errors[0]?.extensions).toEqual({ code: 'INTERNAL', requestId: 'req-context-1' });
    expect(body).not.toMatch(/api_keys|relation|SELECT/i);
    const logged = lines.find((l) => l.msg === 'unexpected error' && l.requestId === 'req-context-1') as {
      err: { message: string };
    };
    expect(logged?.err.message).toMatch(/api_keys/);
  } finally {
    await h.sql('ALTER TABLE api_keys_gone RENAME TO api_keys');
  }
  // A caller's id that is not sane is replaced by one of the server's, the same in the header and the log.
  const res = await post(s.port, null, 'no spaces allowed', { query: '{ viewer { isOperator } }' });
  const id = res.headers.get('x-request-id');
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  await res.text();
  expect(lines.some((l) => l.msg === 'graphql' && l.requestId === id)).toBe(true);
});

it('logs the shape of a failed statement, never its parameters (batches, metadata, subjects)', async () => {
  const t = await h.seed.tenant('errors-shape');
  await h.sql('ALTER TABLE usage_rollups_hourly RENAME TO usage_rollups_hourly_gone');
  const secret = 'customer-secret-4711';
  const s = await h.listen();
  const res = await post(s.port, t.adminKey, 'req-shape', {
    query: 'mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) { created } }',
    variables: {
      input: [
        { idempotencyKey: 'shape-1', kind: 'CALL', cost: '1', subject: secret, metadata: { note: secret } },
        { idempotencyKey: 'shape-2', kind: 'CALL', cost: '2', sessionId: secret },
      ],
    },
  });
  const answer = (await res.json()) as { errors: { extensions: Record<string, unknown> }[] };
  await h.sql('ALTER TABLE usage_rollups_hourly_gone RENAME TO usage_rollups_hourly');
  expect(answer.errors[0]?.extensions).toEqual({ code: 'INTERNAL', requestId: 'req-shape' });
  const logged = lines.find((l) => l.msg === 'unexpected error' && l.requestId === 'req-shape') as {
    err: { message: string; statement: string; parameters: { count: number; types: string[] } };
  };
  expect(logged?.err.message).toMatch(/usage_rollups_hourly/);
  expect(JSON.stringify(logged)).not.toContain(secret);
  expect(JSON.stringify(logged)).not.toContain('shape-1');
  expect(logged.err.statement).toMatch(/^recordUsage:/);
  expect(logged.err.parameters.count).toBeGreaterThan(0);
  expect(
    logged.err.parameters.types.every((x) =>
      /^(string:\d+|number|null|undefined|date|boolean|array:\d+|bytes:\d+|object)$/.test(x),
    ),
  ).toBe(true);
  const [{ n }] = await h.sql("SELECT count(*)::int AS n FROM usage_events WHERE idempotency_key LIKE 'shape-%'");
  expect(n).toBe(0);
});

it('names the refused input field from the error’s structure, not its message, in every phase', async () => {
  const t = await h.seed.tenant('fields');
  const batch = 'mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) { created } }';
  const long = 'aVariableNameLongEnoughThatItsPathIsClippedInTheMessage';
  const cases: [string, string, Record<string, unknown> | undefined, (string[] | undefined)[]][] = [
    [
      'every bad field of a variable, each with its own path',
      RECORD,
      { input: { idempotencyKey: 'f-1', kind: 'LLM', model: 'm', inputTokens: 'x', outputTokens: 1.5 } },
      [
        ['input', 'inputTokens'],
        ['input', 'outputTokens'],
      ],
    ],
    [
      'a list item of a variable',
      batch,
      {
        input: [
          { idempotencyKey: 'f-2', kind: 'CALL' },
          { idempotencyKey: 'f-3', kind: 'NOPE' },
        ],
      },
      [['input', '1', 'kind']],
    ],
    [
      'a path longer than a message may quote',
      `mutation($${long}: RecordUsageInput!) { recordUsage(input: $${long}) { outcome } }`,
      { [long]: { idempotencyKey: 'f-4', kind: 'LLM', model: 'm', cacheWriteInputTokens: -0.5 } },
      [[long, 'cacheWriteInputTokens']],
    ],
    ['a required variable not given', RECORD, {}, [['input']]],
    ['a variable given null', RECORD, { input: null }, [['input']]],
    [
      'an input field no type declares, written inline',
      'mutation { recordUsage(input: { idempotencyKey: "f-5", kind: CALL, cots: "1" }) { outcome } }',
      undefined,
      [['cots']],
    ],
    ['a required argument left out', 'mutation { recordUsage { outcome } }', undefined, [['recordUsage']]],
    [
      'a non-null argument given null through a variable with a default',
      'query($f: UsageFilter = { from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z" }) { usageEvents(filter: $f) { edges { cursor } } }',
      { f: null },
      [['filter']],
    ],
    [
      'a nullable variable where a non-null value is expected',
      'query($from: DateTime) { usageEvents(filter: { from: $from, to: "2026-01-02T00:00:00Z" }) { edges { cursor } } }',
      { from: null },
      [['from']],
    ],
    ['an undefined variable', '{ usageEvents(filter: $nope) { edges { cursor } } }', {}, [['nope']]],
    ['a variable of an output type, unused', 'query($x: Viewer) { viewer { isOperator } }', {}, [['x'], ['x']]],
    ['a selection on a leaf field', '{ viewer { isOperator { x } } }', undefined, [['isOperator']]],
    ['a leaf missing on an object field', '{ viewer }', undefined, [['viewer']]],
    [
      'a duplicate argument (no field named)',
      '{ quotaStatus(subject: "a", subject: "b") { items { used } } }',
      undefined,
      [undefined],
    ],
    ['a misspelt field (no input field to name)', '{ viewr { isOperator } }', undefined, [undefined]],
    ['a syntax error', '{ viewer { ', undefined, [undefined]],
  ];
  // Twice: the second answer comes from yoga's parse and validation cache.
  for (const pass of ['first', 'cached']) {
    for (const [what, query, variables, fields] of cases) {
      const r = await h.gql(t.adminKey, query, variables);
      expect(
        r.errors?.map((e) => e.extensions?.code),
        `${what} (${pass})`,
      ).toEqual(fields.map(() => 'BAD_USER_INPUT'));
      expect(
        r.errors?.map((e) => e.extensions?.field),
        `${what} (${pass})`,
      ).toEqual(fields);
    }
  }
});
