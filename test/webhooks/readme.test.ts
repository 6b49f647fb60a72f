// Runs the README's webhook receiver as a user pastes it: the ```ts block after
// `<!-- test/webhooks/readme.test.ts runs this: webhook-receiver -->` is written to a file beside
// the repo's node_modules (so `standardwebhooks` resolves as in a user's project), run with tsx
// on a free port with the endpoint's secret, and must print what the ```text block after it
// shows (`…`: any text) once a real server delivers a threshold crossing, then exit 0.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freePort } from '../../server/src/db/embedded';
import { NOON, World } from '../support/world';
import { CREATE_ENDPOINT } from './receiver';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const MARK =
  /<!-- test\/webhooks\/readme\.test\.ts runs this: webhook-receiver -->\n```ts\n([\s\S]*?)```\n\s*```text\n([\s\S]*?)```/;

const world = await World.forFile('webhook-readme', {
  config: {
    webhooks: {
      allowPrivateAddresses: true,
      retryScheduleMs: [200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
      timeoutMs: 2000,
      concurrency: 4,
      pollMs: 50,
      worker: true,
    },
  },
});
const dir = path.join(ROOT, 'node_modules', '.cache', `readme-webhooks-${process.pid}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("the README's receiver verifies a real delivery with the Standard Webhooks library and prints it", async () => {
  const m = MARK.exec(README);
  expect(m, 'README.md has the webhook receiver and what it prints').not.toBeNull();
  const [, code, shown] = m as RegExpExecArray;
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'receiver.mts');
  writeFileSync(file, code as string);

  world.clock.set(NOON);
  const acme = await world
    .tenant('acme')
    .onPlan([{ metric: 'COST', period: 'DAY', amount: '1', thresholds: [50], action: 'ALERT' }])
    .withKey('INGEST');
  const port = await freePort();
  const { secret } = (
    await world.h.ok(acme.admin.secret, CREATE_ENDPOINT, {
      input: { url: `http://127.0.0.1:${port}/tally-webhooks`, eventTypes: ['quota.threshold_crossed'] },
    })
  ).createWebhookEndpoint;
  const run = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', file],
      { cwd: dir, env: { ...process.env, PORT: String(port), TALLY_WEBHOOK_SECRET: secret }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  // The receiver may still be starting: the first attempts are retried on the short schedule.
  await acme.record({ cost: '0.6' });
  const out = await run;
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  const lines = out.stdout.trimEnd().split('\n');
  const expected = (shown as string).trimEnd().split('\n');
  expect(lines).toHaveLength(expected.length);
  expected.forEach((line, i) => {
    const re = new RegExp(
      `^${line
        .split('…')
        .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.+')}$`,
    );
    expect(lines[i]).toMatch(re);
  });
});
