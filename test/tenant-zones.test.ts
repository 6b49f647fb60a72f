// A tenant's zone is checked against PostgreSQL's zone list, which PostgreSQL builds from its
// zone files on every read (30 to 60 ms): the list is read once per process, not per tenant.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../server/src/db/database';
import { TenantsService } from '../server/src/modules/tenants/tenants.service';
import { createHarness, type Harness, OPERATOR_KEY } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('tenant-zones');
});
afterAll(async () => h?.close());

/** A TenantsService on the harness's database that records the names of the statements it runs. */
function watched(failFirst = false) {
  const names: string[] = [];
  let failed = !failFirst;
  const db: Database = {
    ...h.db,
    query: ((name: string, ...rest: unknown[]) => {
      names.push(name);
      if (!failed) {
        failed = true;
        return Promise.reject(new Error('connection lost'));
      }
      return (h.db.query as (...a: unknown[]) => Promise<unknown>)(name, ...rest);
    }) as Database['query'],
  };
  return { svc: new TenantsService(db, h.app.services.apiKeys, async () => {}), names };
}

describe('tenant zones', () => {
  it('reads the zone list once for any number of checks, valid or not, concurrent or not', async () => {
    const { svc, names } = watched();
    const zones = ['Europe/Berlin', 'Asia/Tokyo', 'Mars/Olympus_Mons', 'UTC', 'America/Argentina/Buenos_Aires'];
    expect(await Promise.all(zones.map((z) => svc.isZone(z)))).toEqual([true, true, false, true, true]);
    expect(await svc.isZone('Europe/Berlin')).toBe(true);
    expect(await svc.isZone('Not/A_Zone')).toBe(false);
    expect(await svc.isZone('europe/berlin')).toBe(false);
    // One statement in all (checking each name alone ran one per check).
    expect(names).toEqual(['tenants:zones']);
  });

  it('does not keep a failed read: the next check reads again', async () => {
    const { svc, names } = watched(true);
    await expect(svc.isZone('Europe/Berlin')).rejects.toThrow('connection lost');
    expect(await svc.isZone('Europe/Berlin')).toBe(true);
    expect(names).toEqual(['tenants:zones', 'tenants:zones']);
  });

  it('createTenant still refuses an unknown zone on its field and keeps the zone it was given', async () => {
    const bad = await h.gql(OPERATOR_KEY, 'mutation($i: CreateTenantInput!) { createTenant(input: $i) { secret } }', {
      i: { name: 'mars', timezone: 'Mars/Olympus_Mons' },
    });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'timezone'] });
    const ok = await h.ok(
      OPERATOR_KEY,
      'mutation($i: CreateTenantInput!) { createTenant(input: $i) { apiKey { tenant { timezone } } } }',
      { i: { name: 'tokyo', timezone: 'Asia/Tokyo' } },
    );
    expect(ok.createTenant.apiKey.tenant.timezone).toBe('Asia/Tokyo');
  });
});
