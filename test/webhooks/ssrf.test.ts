// Safe by default: with WEBHOOK_ALLOW_PRIVATE_ADDRESSES off, no delivery reaches a loopback,
// private, link-local, unique-local or otherwise non-public address, whether named as an IP or
// by a host name that resolves to one; the attempt log says why and the receiver hears nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/src/config';
import { pinnedLookup, refusedRange } from '../../server/src/modules/webhooks/webhooks.address';
import { DEFAULT_RETRY_SCHEDULE_MS, retryDelay } from '../../server/src/modules/webhooks/webhooks.options';
import { until } from '../support/wait';
import { NOON, World } from '../support/world';
import { CREATE_ENDPOINT, DELIVERIES, Receiver } from './receiver';

const world = await World.forFile('webhook-ssrf', {
  config: {
    webhooks: {
      allowPrivateAddresses: false,
      retryScheduleMs: [],
      timeoutMs: 2000,
      concurrency: 8,
      pollMs: 50,
      worker: true,
    },
  },
});
const { h } = world;
const rx = await Receiver.start();
afterAll(() => rx.close());

describe('addresses a delivery may reach', () => {
  it('classifies by range after parsing (ipaddr.js), IPv4-mapped IPv6 as the IPv4 it carries', () => {
    const refused: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['::1', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['192.168.1.1', 'private'],
      ['169.254.169.254', 'linkLocal'],
      ['fe80::1', 'linkLocal'],
      ['fc00::1', 'uniqueLocal'],
      ['0.0.0.0', 'unspecified'],
      ['::', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['ff02::1', 'multicast'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:10.0.0.1', 'private'],
      ['100.64.0.1', 'carrierGradeNat'],
    ];
    for (const [ip, range] of refused) expect([ip, refusedRange(ip)]).toEqual([ip, range]);
    for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700::1111']) expect(refusedRange(ip)).toBeNull();
  });

  it('the pinned lookup refuses a host name that resolves to loopback, and answers it when allowed', async () => {
    const lookup = (allow: boolean) =>
      new Promise<{ err: Error | null; address: unknown }>((resolve) =>
        (pinnedLookup(allow) as unknown as (h: string, o: object, cb: (e: Error | null, a: unknown) => void) => void)(
          'localhost',
          {},
          (err, address) => resolve({ err, address }),
        ),
      );
    const off = await lookup(false);
    expect(off.err?.message).toMatch(/localhost resolves to .* \(loopback\)/);
    const on = await lookup(true);
    expect(on.err).toBeNull();
    expect(String(on.address)).toMatch(/^(127\.0\.0\.1|::1)$/);
  });

  it('refused by default: loopback by IP and by name, private, link-local, unique-local; nothing reaches the receiver', async () => {
    expect(loadConfig({}).webhooks.allowPrivateAddresses).toBe(false);
    world.clock.set(NOON);
    const acme = await world.tenant('acme').withKey('INGEST');
    const urls = [
      rx.url,
      `http://localhost:${rx.port}/hook`,
      `http://[::1]:${rx.port}/hook`,
      `http://[::ffff:127.0.0.1]:${rx.port}/hook`,
      'http://10.0.0.1/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[fd00::1]/hook',
      'http://0.0.0.0:1/hook',
    ];
    const ids: string[] = [];
    for (const url of urls)
      ids.push((await h.ok(acme.admin.secret, CREATE_ENDPOINT, { input: { url } })).createWebhookEndpoint.endpoint.id);
    await h.db.transaction('test:emit', (tx) =>
      h.app.services.webhooks.outbox.emit(tx, [
        { tenantId: acme.id, type: 'usage.reversed', key: 'ssrf-1', at: new Date(NOON), data: {} },
      ]),
    );
    for (const [i, id] of ids.entries()) {
      await until(
        async () =>
          (await h.ok(acme.admin.secret, DELIVERIES, { endpointId: id })).webhookDeliveries.edges[0]?.node.status ===
          'FAILED',
        `FAILED for ${urls[i]}`,
      );
      const [d] = (await h.ok(acme.admin.secret, DELIVERIES, { endpointId: id })).webhookDeliveries.edges;
      expect([urls[i], d.node.attemptLog.map((a: { outcome: string }) => a.outcome)]).toEqual([
        urls[i],
        ['ADDRESS_NOT_ALLOWED'],
      ]);
      expect(d.node.attemptLog[0].error).toMatch(/which deliveries may not reach/);
      expect(d.node.lastResponseStatus).toBeNull();
    }
    expect(rx.received).toEqual([]);
  });
});

describe('the retry schedule', () => {
  it('defaults to the Standard Webhooks schedule, at least 24 hours however the jitter falls', () => {
    const d = loadConfig({}).webhooks;
    expect(d.retryScheduleMs).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(d.timeoutMs).toBe(10_000);
    const least = DEFAULT_RETRY_SCHEDULE_MS.map(
      (_, i) => retryDelay(DEFAULT_RETRY_SCHEDULE_MS, i + 1, () => 0) as number,
    );
    expect(least.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(24 * 3_600_000);
    // the default's delays grow (never shorter than the one before), and one failure past them is FAILED
    expect(least.every((ms, i) => i === 0 || ms >= (least[i - 1] as number))).toBe(true);
    expect(retryDelay(DEFAULT_RETRY_SCHEDULE_MS, DEFAULT_RETRY_SCHEDULE_MS.length + 1)).toBeNull();
    // growing, jittered up to a quarter longer, then given up
    expect(retryDelay([1000, 2000], 1, () => 0.999)).toBeLessThanOrEqual(1250);
    expect(retryDelay([1000, 2000], 2, () => 0.5)).toBe(2250);
    expect(retryDelay([1000, 2000], 3)).toBeNull();
  });

  it('WEBHOOK_RETRY_SCHEDULE and WEBHOOK_ALLOW_PRIVATE_ADDRESSES are read from the environment', () => {
    const c = loadConfig({ WEBHOOK_RETRY_SCHEDULE: '100,200', WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true' }).webhooks;
    expect(c).toMatchObject({ retryScheduleMs: [100, 200], allowPrivateAddresses: true });
    expect(loadConfig({ WEBHOOK_RETRY_SCHEDULE: '' }).webhooks.retryScheduleMs).toHaveLength(7);
    expect(() => loadConfig({ WEBHOOK_RETRY_SCHEDULE: '5s,1m' })).toThrow(/comma-separated list of milliseconds/);
    expect(() => loadConfig({ WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'yes' })).toThrow();
  });
});
