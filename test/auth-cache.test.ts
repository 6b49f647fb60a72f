// The authentication cache: a key is trusted for AUTH_CACHE_MS after it was read, then read
// again. Busy keys are read again together (one statement for all those due within half a
// period), so N busy keys cost about two statements a period, not N; the bound on how long a
// revocation no instance was told of goes unseen stays AUTH_CACHE_MS.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness';
import { nextTurn, sleep } from './support/wait';

const CACHE_MS = 1000;
let h: Harness;
beforeAll(async () => {
  h = await createHarness('auth-cache', { config: { authCacheMs: CACHE_MS } });
});
afterAll(async () => h?.close());

const count = () => h.db.queryCount();
const keyIdOf = async (secret: string) => (await h.app.services.apiKeys.authenticate(secret))?.key?.id ?? null;

describe('authentication cache', () => {
  it('busy keys are read again together, their callers sharing the statement; an idle one is not carried', async () => {
    const [a, b, c] = [await h.seed.tenant('a'), await h.seed.tenant('b'), await h.seed.tenant('c')];
    for (const t of [a, b, c]) expect(await keyIdOf(t.adminKey)).toBe(t.adminKeyId);
    await sleep(CACHE_MS * 0.6);
    const hits = count();
    expect(await keyIdOf(a.adminKey)).toBe(a.adminKeyId);
    expect(await keyIdOf(b.adminKey)).toBe(b.adminKeyId);
    expect(count() - hits).toBe(0);
    await sleep(CACHE_MS * 0.5);
    // All three have run out; a's renewal carries b (used since its read), not c.
    const due = count();
    const forA = keyIdOf(a.adminKey);
    await nextTurn();
    const forB = keyIdOf(b.adminKey);
    expect([await forA, await forB]).toEqual([a.adminKeyId, b.adminKeyId]);
    expect(count() - due).toBe(1);
    expect(await keyIdOf(c.adminKey)).toBe(c.adminKeyId);
    expect(count() - due).toBe(2);
  });

  it('a key revoked behind the cache (no message) is refused as soon as a renewal carries it, before its own entry runs out', async () => {
    const [a, b] = [await h.seed.tenant('ra'), await h.seed.tenant('rb')];
    expect(await keyIdOf(a.adminKey)).toBe(a.adminKeyId);
    await sleep(CACHE_MS * 0.3);
    expect(await keyIdOf(b.adminKey)).toBe(b.adminKeyId);
    await sleep(CACHE_MS * 0.4);
    expect(await keyIdOf(b.adminKey)).toBe(b.adminKeyId);
    // Revoked by hand: no instance is told, so the cache answers until its entry is read again.
    await h.sql('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [b.adminKeyId]);
    expect(await keyIdOf(b.adminKey)).toBe(b.adminKeyId);
    await sleep(CACHE_MS * 0.35);
    // a has run out, b (read 0.3 periods later) not yet: a's renewal carries b, reads it revoked
    // and drops it, so b is refused now rather than when its own entry runs out.
    expect(await keyIdOf(a.adminKey)).toBe(a.adminKeyId);
    expect(await keyIdOf(b.adminKey)).toBeNull();
    expect(await keyIdOf(a.adminKey)).toBe(a.adminKeyId);
  });

  it('a revocation told to this instance while a renewal is out stays: the renewal does not put the key back', async () => {
    const t = await h.seed.tenant('told');
    expect(await keyIdOf(t.adminKey)).toBe(t.adminKeyId);
    await sleep(CACHE_MS * 1.1);
    // The renewal's statement is held until the revocation is told.
    const holder = new pg.Client(h.url);
    await holder.connect();
    let renewal: Promise<string | null>;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE');
      renewal = keyIdOf(t.adminKey);
      await sleep(100);
      // As a revocation message does (here without revoking in the database, so the renewal
      // out reads the key live and answers its caller).
      h.app.services.apiKeys.forget(t.adminKeyId);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect(await renewal).toBe(t.adminKeyId);
    const after = count();
    expect(await keyIdOf(t.adminKey)).toBe(t.adminKeyId);
    // Not cached by the renewal: looked up again.
    expect(count() - after).toBe(1);
  });

  it('entries unused for more than a period are dropped from memory, and their keys still work', async () => {
    const keys = h.app.services.apiKeys;
    const ts = [await h.seed.tenant('s1'), await h.seed.tenant('s2')];
    // The earlier tests' entries out of the way.
    expect(keys.sweep(Date.now() + 10 * CACHE_MS)).toBe(0);
    for (const t of ts) expect(await keyIdOf(t.adminKey)).toBe(t.adminKeyId);
    expect(keys.sweep()).toBe(2);
    // Half a period on: nothing has run out a period ago yet.
    expect(keys.sweep(Date.now() + CACHE_MS / 2)).toBe(2);
    expect(keys.sweep(Date.now() + 2.5 * CACHE_MS)).toBe(0);
    for (const t of ts) expect(await keyIdOf(t.adminKey)).toBe(t.adminKeyId);
    expect(keys.sweep()).toBe(2);
  });

  it('a renewal whose statement fails fails its callers and is asked again on the next use', async () => {
    const t = await h.seed.tenant('renewal-fails');
    expect(await keyIdOf(t.adminKey)).toBe(t.adminKeyId);
    await sleep(CACHE_MS * 1.1);
    const [row] = await h.db.query<{ role: string }>('test:role', 'SELECT current_user AS role');
    const role = row?.role as string;
    await h.sql(`REVOKE SELECT ON api_keys FROM "${role}"`);
    try {
      await expect(h.app.services.apiKeys.authenticate(t.adminKey)).rejects.toThrow(/permission denied/);
    } finally {
      await h.sql(`GRANT SELECT ON api_keys TO "${role}"`);
    }
    expect(await keyIdOf(t.adminKey)).toBe(t.adminKeyId);
  });
});

describe('authentication without a cache (AUTH_CACHE_MS=0)', () => {
  let h0: Harness;
  beforeAll(async () => {
    h0 = await createHarness('auth-cache-0', { config: { authCacheMs: 0 } });
  });
  afterAll(async () => h0?.close());

  it('every use reads the key: a revocation by hand is refused at the next use', async () => {
    const t = await h0.seed.tenant('nocache');
    const id = async () => (await h0.app.services.apiKeys.authenticate(t.adminKey))?.key?.id ?? null;
    expect(await id()).toBe(t.adminKeyId);
    const before = h0.db.queryCount();
    expect(await id()).toBe(t.adminKeyId);
    expect(h0.db.queryCount() - before).toBe(1);
    await h0.sql('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [t.adminKeyId]);
    expect(await id()).toBeNull();
  });
});

describe('the sweep runs on the lastUsedAt flush timer', () => {
  let hs: Harness;
  beforeAll(async () => {
    hs = await createHarness('auth-cache-sweep', { config: { authCacheMs: 100, lastUsedFlushMs: 50 } });
  });
  afterAll(async () => hs?.close());

  it('an entry unused for a period after it ran out leaves memory without anyone asking', async () => {
    const t = await hs.seed.tenant('swept');
    const keys = hs.app.services.apiKeys;
    expect((await keys.authenticate(t.adminKey))?.key?.id).toBe(t.adminKeyId);
    // sweep(0) drops nothing (nothing ran out before 1970): it counts the entries.
    expect(keys.sweep(0)).toBe(1);
    await sleep(400);
    expect(keys.sweep(0)).toBe(0);
  });
});
