// Runs the README's walkthrough as written: every `<!-- step -->` block in order, with the
// key it names, saving secrets it says to save, and compares every `<!-- expect -->` answer.
// The only rewrite: the summary's example day becomes the day the test runs.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY } from './support/harness';

interface Step {
  as: string;
  save: [string, string][];
  document: string;
  expected: { data?: unknown; errors?: unknown[] } | null;
}

function walkthrough(readme: string): Step[] {
  const re =
    /<!-- step as=(\w+)(?: save=(\S+))? -->\s*```graphql\n([\s\S]*?)```(?:\s*<!-- expect -->\s*```json\n([\s\S]*?)```)?/g;
  return [...readme.matchAll(re)].map((m) => ({
    as: m[1] as string,
    save: (m[2] ?? '')
      .split(',')
      .filter(Boolean)
      .map((s) => s.split('=') as [string, string]),
    document: m[3] as string,
    expected: m[4] ? JSON.parse(m[4]) : null,
  }));
}

const dig = (obj: unknown, path: string) => path.split('.').reduce((o, k) => (o as Record<string, unknown>)?.[k], obj);

let h: Harness;
beforeAll(async () => {
  h = await createHarness('readme');
});
afterAll(async () => h?.close());

it('the README walkthrough runs as written and answers what it shows', async () => {
  const steps = walkthrough(readFileSync(new URL('../README.md', import.meta.url), 'utf8'));
  expect(steps.length).toBeGreaterThanOrEqual(8);
  expect(steps.filter((s) => s.expected).length).toBeGreaterThanOrEqual(5);

  const today = new Date();
  today.setUTCHours(0, 0, 0, 0);
  const tomorrow = new Date(today.getTime() + 86_400_000);
  const keys: Record<string, string> = { OPERATOR: OPERATOR_KEY };

  for (const [i, step] of steps.entries()) {
    const key = keys[step.as];
    expect(key, `step ${i + 1} uses ${step.as} before it was saved`).toBeDefined();
    const document = step.document
      .replaceAll('2026-11-22T00:00:00Z', today.toISOString())
      .replaceAll('2026-11-23T00:00:00Z', tomorrow.toISOString());
    const { status: _status, ...answer } = await h.gql(key as string, document);
    if (step.expected?.errors) expect(answer, `step ${i + 1}`).toMatchObject(step.expected);
    else if (step.expected) expect(answer, `step ${i + 1}`).toEqual(step.expected);
    else expect(answer.errors, `step ${i + 1}: ${JSON.stringify(answer.errors)}`).toBeUndefined();
    for (const [name, path] of step.save) {
      keys[name] = dig(answer.data, path) as string;
      expect(keys[name], `step ${i + 1} saves ${name}`).toMatch(/^tly_/);
    }
  }
});
