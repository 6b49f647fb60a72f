// Runs the README's walkthrough as written, in document order:
//   <!-- step as=KEY save=NAME=path,... -->  a GraphQL document sent with that key; saved
//                                           values replace NAME where later documents use it
//   <!-- expect -->                         the answer the step must give
//   <!-- subscribe as=KEY name=N -->        a subscription opened over SSE on a real server
//   <!-- events N -->                       the events that subscription must have received
// The only rewrite: the summary's example day becomes the day the test runs.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY } from './support/harness';

type Block =
  | {
      type: 'step';
      as: string;
      save: [string, string][];
      document: string;
      expected: { data?: unknown; errors?: unknown[] } | null;
    }
  | { type: 'subscribe'; as: string; name: string; document: string }
  | { type: 'events'; name: string; expected: unknown[] };

function walkthrough(readme: string): Block[] {
  const re =
    /<!-- (step|subscribe|events)([^>]*)-->\s*```(?:graphql|json)\n([\s\S]*?)```(?:\s*<!-- expect -->\s*```json\n([\s\S]*?)```)?/g;
  return [...readme.matchAll(re)].map((m): Block => {
    const attrs: Record<string, string> = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)=(\S+)/g)].map((a) => [a[1], a[2]]),
    );
    if (m[1] === 'events') return { type: 'events', name: (m[2] ?? '').trim(), expected: JSON.parse(m[3] as string) };
    if (m[1] === 'subscribe')
      return { type: 'subscribe', as: attrs.as as string, name: attrs.name as string, document: m[3] as string };
    return {
      type: 'step',
      as: attrs.as as string,
      save: (attrs.save ?? '')
        .split(',')
        .filter(Boolean)
        .map((s: string) => s.split('=') as [string, string]),
      document: m[3] as string,
      expected: m[4] ? JSON.parse(m[4]) : null,
    };
  });
}

const dig = (obj: unknown, path: string) => path.split('.').reduce((o, k) => (o as Record<string, unknown>)?.[k], obj);

/** Reads `data:` lines of an SSE response into `into`, until the stream ends. */
async function readSse(res: Response, into: unknown[]) {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let i = buffer.indexOf('\n\n');
    while (i >= 0) {
      const frame = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      for (const line of frame.split('\n'))
        if (line.startsWith('data:') && line.length > 5) into.push(JSON.parse(line.slice(5)));
      i = buffer.indexOf('\n\n');
    }
  }
}

let h: Harness;
const streams: AbortController[] = [];
beforeAll(async () => {
  h = await createHarness('readme');
});
afterAll(async () => {
  for (const s of streams) s.abort();
  await h?.close();
});

it('the README walkthrough runs as written and answers what it shows', async () => {
  const blocks = walkthrough(readFileSync(new URL('../README.md', import.meta.url), 'utf8'));
  expect(blocks.filter((b) => b.type === 'step').length).toBeGreaterThanOrEqual(12);
  expect(blocks.filter((b) => b.type === 'events').length).toBeGreaterThanOrEqual(1);

  const server = await h.listen();
  const today = new Date();
  today.setUTCHours(0, 0, 0, 0);
  const tomorrow = new Date(today.getTime() + 86_400_000);
  const saved: Record<string, string> = { OPERATOR: OPERATOR_KEY };
  const events: Record<string, unknown[]> = {};
  const fill = (doc: string) => {
    let out = doc
      .replaceAll('2026-11-22T00:00:00Z', today.toISOString())
      .replaceAll('2026-11-23T00:00:00Z', tomorrow.toISOString());
    for (const [name, value] of Object.entries(saved)) out = out.replaceAll(`"${name}"`, `"${value}"`);
    return out;
  };

  for (const [i, b] of blocks.entries()) {
    const label = `block ${i + 1} (${b.type})`;
    if (b.type === 'subscribe') {
      const abort = new AbortController();
      streams.push(abort);
      const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
        method: 'POST',
        headers: {
          accept: 'text/event-stream',
          'content-type': 'application/json',
          authorization: `Bearer ${saved[b.as]}`,
        },
        body: JSON.stringify({ query: fill(b.document) }),
        signal: abort.signal,
      });
      expect(res.status, label).toBe(200);
      events[b.name] = [];
      void readSse(res, events[b.name] as unknown[]);
      continue;
    }
    if (b.type === 'events') {
      const got = events[b.name] as unknown[];
      const until = Date.now() + 10_000;
      while (got.length < b.expected.length && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 300)); // nothing more may arrive
      const order = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
      expect(order(got), label).toEqual(order(b.expected));
      continue;
    }
    const key = saved[b.as];
    expect(key, `${label} uses ${b.as} before it was saved`).toBeDefined();
    const { status: _status, ...answer } = await h.gql(key as string, fill(b.document));
    if (b.expected?.errors) expect(answer, label).toMatchObject(b.expected);
    else if (b.expected) expect(answer, label).toEqual(b.expected);
    else expect(answer.errors, `${label}: ${JSON.stringify(answer.errors)}`).toBeUndefined();
    for (const [name, path] of b.save) {
      saved[name] = dig(answer.data, path) as string;
      expect(saved[name], `${label} saves ${name}`).toEqual(expect.any(String));
    }
  }
});
