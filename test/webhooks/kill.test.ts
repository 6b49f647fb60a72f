// kill -9 between an alert's commit and its delivery: the outbox row was committed with the
// alert, so the restarted server delivers it, once. The first server runs with its worker off
// (WEBHOOK_WORKER=off), which holds the delivery in the outbox the way a crash a moment after
// commit would.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../server/src/db/embedded';
import { freshDatabase, OPERATOR_KEY } from '../support/harness';
import { killServerProcesses, post, startServerProcess } from '../support/server-process';
import { sleep, until } from '../support/wait';
import { CREATE_ENDPOINT, Receiver } from './receiver';

const dirs: string[] = [];
const rx = await Receiver.start();
afterAll(async () => {
  killServerProcesses();
  await rx.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function startServer(url: string, worker: 'on' | 'off') {
  const dir = mkdtempSync(path.join(tmpdir(), 'tally-webhooks-'));
  dirs.push(dir);
  return startServerProcess(
    {
      DATABASE_URL: url,
      TALLY_DATA_DIR: dir,
      NODE_ENV: 'production',
      WEBHOOK_WORKER: worker,
      WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      WEBHOOK_POLL_MS: '100',
    },
    await freePort(),
  );
}

const ok = async (base: string, key: string, query: string, variables?: unknown) => {
  const r = await post(base, key, query, variables);
  if (!r.ok || r.errors) throw new Error(JSON.stringify(r));
  return r.data;
};

describe('webhooks and kill -9', () => {
  it('an alert committed just before the server is killed is delivered once after a restart', async () => {
    const url = await freshDatabase('webhooks-kill');
    const a = await startServer(url, 'off');
    await ok(
      a.base,
      OPERATOR_KEY,
      'mutation { upsertPlan(input: { code: "hooked", name: "Hooked", limits: [{ metric: COST, period: DAY, amount: "1", action: ALERT, thresholds: [50] }] }) { code } }',
    );
    const created = await ok(
      a.base,
      OPERATOR_KEY,
      'mutation { createTenant(input: { name: "hooked", planCode: "hooked" }) { secret apiKey { tenant { id } } } }',
    );
    const admin = created.createTenant.secret as string;
    const ingest = (
      await ok(a.base, admin, 'mutation { createApiKey(input: { name: "gw", scopes: [INGEST] }) { secret } }')
    ).createApiKey.secret as string;
    const { secret } = (await ok(a.base, admin, CREATE_ENDPOINT, { input: { url: rx.url } })).createWebhookEndpoint;
    await ok(
      a.base,
      ingest,
      'mutation { recordUsage(input: { idempotencyKey: "k1", kind: CALL, cost: "0.75" }) { outcome } }',
    );
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const pending = await db.query(
        "SELECT status, attempts FROM webhook_deliveries WHERE event_type = 'quota.threshold_crossed'",
      );
      expect(pending.rows).toEqual([{ status: 'PENDING', attempts: 0 }]);
      a.child.kill('SIGKILL');
      await a.exited;
      expect(rx.received).toEqual([]);

      const b = await startServer(url, 'on');
      await until(() => rx.received.length >= 1, 'the delivery after the restart', 30_000);
      await sleep(500);
      expect(rx.received).toHaveLength(1);
      const body = new Webhook(secret).verify(
        rx.received[0]?.body as string,
        rx.received[0]?.headers as Record<string, string>,
      ) as {
        type: string;
        data: { threshold: number; used: string };
      };
      expect(body).toMatchObject({ type: 'quota.threshold_crossed', data: { threshold: 50, used: '0.750000000000' } });
      await until(
        async () =>
          (await db.query('SELECT status FROM webhook_deliveries')).rows.every((r) => r.status === 'DELIVERED'),
        'DELIVERED',
      );
      b.child.kill('SIGKILL');
    } finally {
      await db.end();
    }
  });
});
