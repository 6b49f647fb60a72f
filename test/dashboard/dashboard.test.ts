// The dashboard in a real Chromium against a real server (HTTP + WebSocket on one port), every
// other host blocked: sign-in, the live overview, usage, events, keys, a subject token's view.
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { graphql } from '@tally/client';
import Decimal from 'decimal.js';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { planImport } from '../../client/cli/litellm';
import { diffPlan } from '../../client/cli/price-diff';
import { money, zonedRanges } from '../../dashboard/src/format';
import { client, key, plannedTenant, server, useClientServer } from '../client/kit';
import { useBrowser } from '../support/browser';
import { OPERATOR_KEY } from '../support/harness';
import { CreateSubjectToken } from '../support/world';

useClientServer('dash_app');
const origin = () => `http://127.0.0.1:${server.port}`;
const kit = useBrowser(origin);
const KeyLimits = graphql(`
  query KeyLimits($id: ID!) { tenant(id: $id) { apiKeys { id limits { metric period amount action scope } } } }
`);

let t: Awaited<ReturnType<typeof plannedTenant>>;
let page: Page;
const jsBytes = new Map<string, { raw: number; gzip: number }>();
const attr = (sel: string, name: string) => page.locator(sel).first().getAttribute(name);
const record = (cost: string, extra: Record<string, unknown> = {}) =>
  t.admin.recordUsage({ idempotencyKey: key('dash'), kind: 'CALL', cost, ...extra });
const today = () => ({ filter: zonedRanges('UTC').day });

beforeAll(async () => {
  t = await plannedTenant('dash-co', '10');
  // 25 events over the last 4 days: two pages of events, two models, two subjects.
  for (let i = 0; i < 25; i++)
    await t.admin.recordUsage({
      idempotencyKey: key('seed'),
      kind: 'LLM',
      provider: 'openai',
      model: i % 3 ? 'gpt-4o-mini' : 'claude-sonnet-4',
      ...(i % 3 ? {} : { provider: 'anthropic' }),
      inputTokens: 1000 + i,
      outputTokens: 100,
      subject: i % 2 ? 'alice' : 'bob',
      metadata: { run: i },
      occurredAt: new Date(Date.now() - i * 4 * 3_600_000 - 60_000).toISOString(),
    });
  // One failed call, for grouping by STATUS.
  await t.admin.recordUsage({
    idempotencyKey: key('failed'),
    kind: 'CALL',
    cost: '0.25',
    status: 'FAILED',
    subject: 'bob',
  });
  page = await kit.page();
  page.on('response', async (r) => {
    if (!r.url().endsWith('.js')) return;
    const body = await r.body().catch(() => null);
    if (body) jsBytes.set(r.url(), { raw: body.length, gzip: gzipSync(body).length });
  });
});

async function signIn(secret: string, ready = '[data-testid=cost-today][data-value]:not([data-value=""])') {
  await page.goto(origin());
  await page.locator('[data-testid=api-key]').fill(secret);
  await page.locator('[data-testid=sign-in]').click();
  await page.locator(ready).first().waitFor();
}

describe('dashboard', () => {
  it('refuses a wrong key with the API message and keeps nothing', async () => {
    await page.goto(origin());
    await page.locator('[data-testid=api-key]').fill('tly_not-a-real-key');
    await page.locator('[data-testid=sign-in]').click();
    await page.locator('.signin .error').waitFor();
    expect(await page.locator('.signin .error').textContent()).toMatch(/key|authenticat/i);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it('signs in with a key kept in session storage only, and the overview shows the API numbers', async () => {
    await signIn(t.adminKey);
    expect(page.url()).not.toContain(t.adminKey);
    expect(await page.evaluate(() => sessionStorage.getItem('tally.key'))).toBe(t.adminKey);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    const api = await t.admin.usageSummary(today());
    expect(await attr('[data-testid=cost-today]', 'data-value')).toBe(api.totals.cost);
    const quota = await t.admin.quotaStatus();
    const items = page.locator('[data-testid=quota-item]');
    expect(await items.count()).toBe(quota.items.length);
    expect(await items.first().getAttribute('data-metric')).toBe('COST');
    expect(await items.first().getAttribute('data-period')).toBe('DAY');
    expect(await items.first().getAttribute('data-used')).toBe(quota.items[0]?.used);
    expect(await items.first().getAttribute('data-remaining')).toBe(quota.items[0]?.remaining);
  });

  it('reloads warm: first paint and the JavaScript the overview loads (budget 300 KB gzipped)', async () => {
    jsBytes.clear();
    await page.reload();
    await page.locator('[data-testid=cost-today][data-value]:not([data-value=""])').waitFor();
    const timing = await page.evaluate(() => ({
      firstContentfulPaint: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1,
      overviewWithData: performance.now(),
    }));
    const gzip = [...jsBytes.values()].reduce((a, b) => a + b.gzip, 0);
    const raw = [...jsBytes.values()].reduce((a, b) => a + b.raw, 0);
    console.log(
      `overview: first contentful paint ${timing.firstContentfulPaint.toFixed(0)} ms, numbers on screen at ${timing.overviewWithData.toFixed(0)} ms; JS ${jsBytes.size} file(s), ${(raw / 1024).toFixed(1)} KB raw, ${(gzip / 1024).toFixed(1)} KB gzipped`,
    );
    expect(jsBytes.size).toBeGreaterThan(0);
    expect(gzip).toBeLessThan(300 * 1024);
    expect(timing.firstContentfulPaint).toBeGreaterThan(0);
    await kit.screenshot(page, 'overview');
  });

  it('updates the cost within 3 s of usage recorded through the API, with no reload, and shows the alert live', async () => {
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    // The live feed is connected once a pushed event reaches the page.
    const pushes = async () => Number(await attr('[data-testid=overview]', 'data-pushes'));
    const deadline = Date.now() + 20_000;
    while ((await pushes()) === 0) {
      if (Date.now() > deadline) throw new Error('the overview never received a push');
      await record('0');
      await page.waitForTimeout(200);
    }
    const before = await attr('[data-testid=cost-today]', 'data-value');
    expect(await page.locator('[data-testid=alert]').count()).toBe(0);
    const started = Date.now();
    await record('1.5'); // 15% of the 10 COST/DAY limit: crosses 10%
    const api = (await t.admin.usageSummary(today())).totals.cost;
    expect(api).not.toBe(before);
    await page.locator(`[data-testid=cost-today][data-value="${api}"]`).waitFor({ timeout: 3_000 });
    console.log(`overview: cost updated ${Date.now() - started} ms after recordUsage returned`);
    await page.locator('[data-testid=alert]').first().waitFor({ timeout: 3_000 });
    expect(await attr('[data-testid=alert]', 'data-threshold')).toBe('10');
    const quota = await t.admin.quotaStatus();
    await page.locator(`[data-testid=quota-item][data-used="${quota.items[0]?.used}"]`).waitFor({ timeout: 3_000 });
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);
    await kit.screenshot(page, 'overview-live');
  });

  it('charts usage with exactly the usageSummary numbers, by granularity and model', async () => {
    await page.locator('[data-testid=nav-usage]').click();
    for (const granularity of ['DAY', 'HOUR'] as const) {
      await page.locator('[data-testid=granularity]').selectOption(granularity);
      await page.locator(`[data-testid=usage-chart][data-shown="${granularity}/MODEL"] canvas`).waitFor();
      const api = await t.admin.usageSummary({
        filter: {
          from: new Date(Date.now() - 7 * 86_400_000).toISOString(),
          to: new Date(Date.now() + 60_000).toISOString(),
        },
        groupBy: ['MODEL'],
        granularity,
      });
      await page.locator(`[data-testid=usage-total][data-cost="${api.totals.cost}"]`).waitFor();
      const rows = await page
        .locator('[data-testid=usage-row]')
        .evaluateAll((els) =>
          els.map((e) => [e.getAttribute('data-start'), e.getAttribute('data-group'), e.getAttribute('data-cost')]),
        );
      expect(rows).toEqual(api.buckets.map((b) => [b.start, b.model ?? '(none)', b.totals.cost]));
      expect(rows.length).toBeGreaterThan(1);
      if (granularity === 'DAY') await kit.screenshot(page, 'usage');
    }
    // RPM over the last hour, by status: MINUTE narrows the range to what it allows.
    await page.locator('[data-testid=group-by]').selectOption('STATUS');
    await page.locator('[data-testid=granularity]').selectOption('MINUTE');
    await page.locator('[data-testid=usage-chart][data-shown="MINUTE/STATUS"] canvas').waitFor();
    const api = await t.admin.usageSummary({
      filter: { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() },
      groupBy: ['STATUS'],
      granularity: 'MINUTE',
    });
    await page.locator(`[data-testid=usage-total][data-cost="${api.totals.cost}"]`).waitFor();
    const groups = await page
      .locator('[data-testid=usage-row]')
      .evaluateAll((els) =>
        els.map((e) => [e.getAttribute('data-start'), e.getAttribute('data-group'), e.getAttribute('data-requests')]),
      );
    expect(new Set(groups.map((g) => g[1]))).toEqual(new Set(['SUCCEEDED', 'FAILED']));
    expect(groups.every((g) => new Date(g[0] ?? '').getUTCSeconds() === 0)).toBe(true);
    expect(groups.reduce((n, g) => n + Number(g[2]), 0)).toBe(api.totals.requests);
  });

  it('pages the events newest first and opens one with its price snapshot and metadata', async () => {
    await page.locator('[data-testid=nav-events]').click();
    const filter = {
      from: new Date(Date.now() - 365 * 86_400_000).toISOString(),
      to: new Date(Date.now() + 60_000).toISOString(),
    };
    const first = await t.admin.usageEvents({ filter, first: 20 });
    const second = await t.admin.usageEvents({ filter, first: 20, after: first.pageInfo.endCursor });
    const ids = () =>
      page.locator('[data-testid=event-row]').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
    await page.locator(`[data-testid=event-row][data-id="${first.edges[0]?.node.id}"]`).waitFor();
    expect(await ids()).toEqual(first.edges.map((e) => e.node.id));
    await page.locator('[data-testid=next-page]').click();
    await page.locator(`[data-testid=event-row][data-id="${second.edges[0]?.node.id}"]`).waitFor();
    expect(await ids()).toEqual(second.edges.map((e) => e.node.id));
    const llm = second.edges.find((e) => e.node.kind === 'LLM')?.node;
    expect(llm).toBeDefined();
    await page.locator(`[data-testid=event-row][data-id="${llm?.id}"]`).click();
    const detail = page.locator('[data-testid=event-detail]');
    await detail.waitFor();
    expect(await detail.getAttribute('data-id')).toBe(llm?.id);
    expect(await detail.locator('[data-testid=detail-cost]').getAttribute('data-value')).toBe(llm?.cost);
    expect(await detail.locator('[data-testid=detail-price]').textContent()).toContain(
      llm?.model === 'gpt-4o-mini' ? '0.15' : '3',
    );
    expect(JSON.parse((await detail.locator('[data-testid=detail-metadata]').textContent()) ?? '')).toEqual(
      llm?.metadata,
    );
    await kit.screenshot(page, 'events');
    await detail.locator('.close').click();

    // Export CSV: what the filters show, through /export/usage-events.csv.
    await page.locator('[data-testid=filter-model]').fill('claude-sonnet-4');
    await page.locator('[data-testid=filter-model]').press('Enter');
    await page.locator('[data-testid=filter-model]').blur();
    const claude = await t.admin.usageEvents({ filter: { ...filter, model: 'claude-sonnet-4' }, first: 500 });
    // The filtered list replaces the page (its first rows may also have been on the last one).
    await expect.poll(ids).toEqual(claude.edges.map((e) => e.node.id));
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('[data-testid=export-csv]').click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^usage-events.*\.csv$/);
    const csv = (await readFile((await download.path()) as string, 'utf8')).trim().split(/\r?\n/);
    expect(csv[0]?.split(',')[0]).toBe('id');
    expect(new Set(csv.slice(1).map((l) => l.split(',')[0]))).toEqual(new Set(claude.edges.map((e) => e.node.id)));
    expect(csv.length - 1).toBe(claude.edges.length);

    // The status filter: the one failed call.
    await page.locator('[data-testid=filter-model]').fill('');
    await page.locator('[data-testid=filter-model]').press('Enter');
    await page.locator('[data-testid=filter-status]').selectOption('FAILED');
    const failed = await t.admin.usageEvents({ filter: { ...filter, status: 'FAILED' }, first: 500 });
    expect(failed.edges.length).toBe(1);
    await expect.poll(ids).toEqual(failed.edges.map((e) => e.node.id));
  });

  it('creates a key and shows its secret once, then revokes it', async () => {
    await page.locator('[data-testid=nav-keys]').click();
    await page.locator('[data-testid=key-name]').fill('from-the-dashboard');
    await page.locator('[data-testid=create-key]').click();
    const secret = (await page.locator('[data-testid=new-secret]').textContent()) ?? '';
    expect(secret).toMatch(/^tly_/);
    expect((await client(secret).viewer()).apiKey?.name).toBe('from-the-dashboard');
    await kit.screenshot(page, 'keys');
    // Shown once: leaving the page forgets it, and the list only has its prefix.
    await page.locator('[data-testid=nav-usage]').click();
    await page.locator('[data-testid=nav-keys]').click();
    await page.locator('[data-testid=key-row]').first().waitFor();
    expect(await page.locator('[data-testid=new-secret]').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    const made = (await t.admin.apiKeys(t.id)).find((k) => k.name === 'from-the-dashboard');
    const row = page.locator(`[data-testid=key-row][data-id="${made?.id}"]`);
    await row.locator('[data-testid=revoke-key]').click();
    await page.locator(`[data-testid=key-row][data-id="${made?.id}"][data-revoked=true]`).waitFor();
    const revoked = (await t.admin.apiKeys(t.id, { includeRevoked: true })).find((k) => k.id === made?.id);
    expect(revoked?.revokedAt).toBeTruthy();

    // Per-key limits: the reader key gets a COST/DAY limit of its own.
    const reader = page.locator(`[data-testid=key-row][data-id="${t.readerId}"]`);
    await reader.locator('[data-testid=edit-limits]').click();
    const editor = page.locator(`[data-testid=key-limits][data-id="${t.readerId}"]`);
    await editor.locator('[data-testid=limit-amount]').fill('5.5');
    await editor.locator('[data-testid=add-limit]').click();
    await editor.locator('[data-testid=key-limit][data-metric=COST][data-period=DAY]').waitFor();
    const { tenant } = await t.admin.request(KeyLimits, { id: t.id });
    const limits = tenant?.apiKeys.find((k) => k.id === t.readerId)?.limits;
    expect(limits?.map((l) => [l.metric, l.period, l.amount, l.action, l.scope])).toEqual([
      ['COST', 'DAY', '5.500000000000', 'BLOCK', 'API_KEY'],
    ]);
    expect(await editor.locator('[data-testid=key-limit]').getAttribute('data-amount')).toBe(limits?.[0]?.amount);
    await kit.screenshot(page, 'key-limits');
  });

  it('a subject token sees only its subject, and no keys page', async () => {
    const { createSubjectToken } = await t.admin.request(CreateSubjectToken, { input: { subject: 'alice' } });
    await page.locator('[data-testid=sign-out]').click();
    expect(await page.evaluate(() => sessionStorage.getItem('tally.key'))).toBeNull();
    await signIn(createSubjectToken.token);
    const api = await t.admin.usageSummary({ filter: { ...today().filter, subject: 'alice' } });
    const all = await t.admin.usageSummary(today());
    expect(api.totals.cost).not.toBe(all.totals.cost);
    expect(await attr('[data-testid=cost-today]', 'data-value')).toBe(api.totals.cost);
    expect(await page.locator('[data-testid=nav-keys]').count()).toBe(0);
    await page.locator('[data-testid=nav-events]').click();
    await page.locator('[data-testid=event-row]').first().waitFor();
    const subjects = await page
      .locator('[data-testid=event-row] td:nth-child(4)')
      .evaluateAll((els) => els.map((e) => e.textContent));
    expect(subjects.length).toBeGreaterThan(0);
    expect(new Set(subjects)).toEqual(new Set(['alice']));
    await kit.screenshot(page, 'subject-events');
  });

  it('an operator sees the tenants, the plans and the price book', async () => {
    await page.locator('[data-testid=sign-out]').click();
    await signIn(OPERATOR_KEY, `[data-testid=tenant-row][data-id="${t.id}"]`);
    expect(await page.locator('[data-testid=nav-keys]').count()).toBe(0);
    await page.locator('[data-testid=nav-plans]').click();
    const plans = await client(OPERATOR_KEY).plans();
    await page.locator('[data-testid=plan]').first().waitFor();
    expect(await page.locator('[data-testid=plan]').count()).toBe(plans.length);
    await page.locator('[data-testid=nav-prices]').click();
    const prices = await client(OPERATOR_KEY).prices();
    await page.locator('[data-testid=price-row][data-model=gpt-4o-mini]').waitFor();
    const shown = await page
      .locator('[data-testid=price-row]')
      .evaluateAll((els) => els.map((e) => [e.getAttribute('data-model'), e.getAttribute('data-input')]));
    expect(shown).toEqual(prices.map((p) => [p.model, p.inputPerMillion]));
    await kit.screenshot(page, 'operator-prices');
  });

  it('an operator imports a LiteLLM price map: the diff the CLI computes, applied in batches, then nothing left', async () => {
    const FIXTURE = 'test/fixtures/litellm-prices.json';
    const op = client(OPERATOR_KEY);
    const plan = planImport(JSON.parse(await readFile(FIXTURE, 'utf8')));
    const diff = diffPlan(plan, await op.prices({ at: new Date().toISOString() }), null);
    expect(diff.added.length).toBeGreaterThan(0);
    const diffAttrs = async () => {
      const d = page.locator('[data-testid=price-import-diff]');
      await d.waitFor();
      return Object.fromEntries(
        await Promise.all(
          ['added', 'changed', 'unchanged', 'skipped'].map(async (n) => [n, Number(await d.getAttribute(`data-${n}`))]),
        ),
      );
    };
    await page.locator('[data-testid=price-import-file]').setInputFiles(FIXTURE);
    expect(await diffAttrs()).toEqual({
      added: diff.added.length,
      changed: diff.changed.length,
      unchanged: diff.unchanged.length,
      skipped: plan.skipped.length,
    });
    expect(await page.locator('[data-testid=price-import-added]').count()).toBe(diff.added.length);
    await kit.screenshot(page, 'operator-price-import');

    await page.locator('[data-testid=price-import-apply]').click();
    const result = page.locator('[data-testid=price-import-result]');
    await result.waitFor();
    expect(Number(await result.getAttribute('data-created'))).toBe(diff.added.length + diff.changed.length);
    expect(await result.getAttribute('data-refused')).toBe('0');
    // The price book has every planned price, with the planned input rate.
    const book = new Map((await op.prices()).filter((p) => !p.tenantId).map((p) => [`${p.provider}/${p.model}`, p]));
    for (const { price } of plan.prices) {
      const got = book.get(`${price.provider}/${price.model}`);
      expect(got, `${price.provider}/${price.model}`).toBeDefined();
      for (const rate of ['inputPerMillion', 'outputPerMillion', 'perUnit'] as const) {
        const [want, have] = [price[rate], got?.[rate]];
        expect(want == null ? have == null : have != null && new Decimal(have).eq(want), `${price.model} ${rate}`).toBe(
          true,
        );
      }
    }
    // The table shows the new prices.
    const first = plan.prices.find((p) => !p.price.model.includes('"'))?.price.model as string;
    await page.locator(`[data-testid=price-row][data-model="${first}"]`).first().waitFor();

    // The same file again: nothing to add or change, and Apply has nothing to send.
    await page.locator('[data-testid=price-import-file]').setInputFiles(FIXTURE);
    await page.locator('[data-testid=price-import-result]').waitFor({ state: 'detached' });
    expect(await diffAttrs()).toEqual({
      added: 0,
      changed: 0,
      unchanged: plan.prices.length,
      skipped: plan.skipped.length,
    });
    expect(await page.locator('[data-testid=price-import-apply]').isDisabled()).toBe(true);
  });

  it('shows a wallet card: a quiet empty state, then the granted balance, available and the low state live, with no reload', async () => {
    const w = await plannedTenant('dash-wallet', '100');
    const rec = (cost: string) => w.admin.recordUsage({ idempotencyKey: key('wallet'), kind: 'CALL', cost });
    await page.locator('[data-testid=sign-out]').click();
    await signIn(w.adminKey, '[data-testid=wallet][data-state=none]');
    expect(await page.locator('[data-testid=wallet]').textContent()).toMatch(/No prepaid credits/);
    expect(await page.locator('[data-testid=wallet-error], .error').count()).toBe(0);
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 7;
    });

    await client(OPERATOR_KEY).grantCredits({
      tenantId: w.id,
      amount: '20',
      priority: 2,
      reason: 'welcome credit',
      idempotencyKey: key('grant'),
    });
    // walletUpdated cannot be opened before a wallet exists: the empty card asks again on the
    // overview's next push (a free call here; repeated only until the overview's feed is live).
    const card = page.locator('[data-testid=wallet][data-state=ok]');
    const deadline = Date.now() + 20_000;
    while (!(await card.count())) {
      if (Date.now() > deadline) throw new Error('the wallet card never appeared');
      await rec('0');
      await page.waitForTimeout(300);
    }
    const granted = await w.admin.wallet();
    expect(granted.balance).toBe('20.000000000000');
    expect(await attr('[data-testid=wallet-balance]', 'data-value')).toBe(granted.balance);
    expect(await attr('[data-testid=wallet-available]', 'data-value')).toBe(granted.available);
    expect(await page.locator('[data-testid=wallet-balance]').textContent()).toBe(money('20', granted.currency));
    const grant = page.locator('[data-testid=wallet-grant]');
    expect(await grant.count()).toBe(1);
    expect(await grant.textContent()).toContain('welcome credit');

    // Usage debits the wallet: available follows through walletUpdated.
    await rec('1.255');
    const spent = await w.admin.wallet();
    expect(spent.available).toBe('18.745000000000');
    await page.locator(`[data-testid=wallet-available][data-value="${spent.available}"]`).waitFor({ timeout: 3_000 });
    expect(await page.locator('[data-testid=wallet-available]').textContent()).toBe(money('18.745', spent.currency));
    await page.locator('[data-testid=wallet-grant][data-remaining="18.745000000000"]').waitFor({ timeout: 3_000 });
    // A threshold above available: the next debit crosses it and the card says low, live.
    await w.admin.setWalletThreshold({ lowBalanceThreshold: '50' });
    await page.locator('[data-testid=wallet-status][data-threshold="50.000000000000"]').waitFor({ timeout: 3_000 });
    await rec('0.001');
    expect((await w.admin.wallet()).lowBalanceSince).not.toBeNull();
    await page.locator('[data-testid=wallet][data-state=low]').waitFor({ timeout: 3_000 });
    expect(await page.locator('[data-testid=wallet-status]').textContent()).toMatch(/Low since/);
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(7);
    await kit.screenshot(page, 'overview-wallet');
  });
});
