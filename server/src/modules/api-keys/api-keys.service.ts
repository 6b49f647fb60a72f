// API keys: creation (secret shown once), verification, revocation, lastUsedAt; and the
// authentication of every bearer secret: the operator's, a key's, a subject token's
// (api-keys.tokens.ts). Owns the api_keys and subject_tokens tables. Secrets are 256-bit
// random, so a SHA-256 digest is a safe stored form (no slow KDF needed for high-entropy
// secrets); lookups go by the visible prefix and the digest is compared in constant time.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import DataLoader from 'dataloader';
import {
  API_KEY_SCOPES,
  type ApiKeyScope,
  OPERATOR_PRINCIPAL,
  type Principal,
  principalForKey,
} from '../../auth/principal';
import { ownerOf, type TenantScope, tenantIn } from '../../auth/scope';
import { type Database, pgCode, type Sql } from '../../db/database';
import type { ApiKeyRow } from '../../db/entities';
import { inBatches } from '../../lib/batches';
import { DueTogether, readAlong } from '../../lib/due-together';
import { AppError, badInput, containsNul, notFound, unauthenticated } from '../../lib/errors';
import { LocalEvents } from '../../lib/events';
import { isUuid } from '../../lib/ids';
import type { Publisher } from '../../pubsub';
import * as store from './api-keys.store';
import { digest, type NewSubjectToken, SubjectTokens, TOKEN_RE, tokenExpired } from './api-keys.tokens';
import type { ApiKeysTopics } from './api-keys.topics';

const SECRET_RE = /^(tly_[0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  apiKey: ApiKeyRow;
  secret: string;
}

export class ApiKeysService {
  /** 'revoked' (key id) after a revocation committed, in this process (before it is published). */
  readonly emitter = new LocalEvents<{ revoked: [keyId: string] }>();
  /** Principals by secret digest (hex), and until when (Date.now()) they are trusted. */
  private cache = new Map<string, { principal: Principal; until: number }>();
  /**
   * Renewals of cached keys: those of one event-loop turn go as one statement, which also
   * carries the busy keys due within half a period (`due`), so N busy keys cost about two
   * statements per AUTH_CACHE_MS rather than N. A key is read whole again, its digest
   * compared, as a first lookup would (a revoked key drops out, like a lookup that finds it
   * revoked). Callers of a key carried along share the statement while it is out.
   */
  private readonly renewals: DataLoader<string, Principal | null> = new DataLoader(async (cacheKeys) => {
    const along = this.due.take(new Set(cacheKeys));
    // The entries as they are now: an answer replaces only the entry it renews (one a
    // revocation, a sweep or a fresh lookup removed or replaced meanwhile stays as it is).
    const entries = new Map([...cacheKeys, ...along].map((k) => [k, this.cache.get(k)]));
    return readAlong(
      this.renewals,
      cacheKeys,
      along,
      async (all) => {
        const ids = [...new Set(all.flatMap((k) => entries.get(k)?.principal.key?.id ?? []))];
        const byId = new Map((await store.liveKeysByIds(this.db, ids)).map((r) => [r.id, r]));
        return all.map((k) => {
          const row = byId.get(entries.get(k)?.principal.key?.id ?? '');
          const d = Buffer.from(k, 'hex');
          return row && row.secretHash.length === d.length && timingSafeEqual(row.secretHash, d)
            ? principalForKey(row)
            : null;
        });
      },
      (all, out) => {
        const until = Date.now() + this.cacheMs;
        all.forEach((k, i) => {
          const entry = entries.get(k);
          if (!entry || this.cache.get(k) !== entry) return;
          const principal = out[i];
          if (principal) this.cache.set(k, { principal, until });
          else this.cache.delete(k);
        });
      },
    );
  });
  /** The busy keys (not tokens) among the cache's entries, renewed together. */
  private readonly due: DueTogether<string>;
  /** Lookups in flight, by secret digest: concurrent first uses of one key share one statement. */
  private lookups = new Map<string, Promise<Principal | null>>();
  /** Bumped by every revocation; a lookup that started before one does not fill the cache. */
  private generation = 0;
  private lastUsed = new Map<string, Date>();
  private readonly operatorDigest: Buffer | null;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly tokens: SubjectTokens;

  constructor(
    private readonly db: Database,
    opts: {
      operatorKey?: string;
      operatorKeyHash?: Buffer;
      cacheMs: number;
      lastUsedFlushMs: number;
      now: () => Date;
      /** Whether a tenant exists: the tenants module's answer (given at wiring; api-keys reads no tenants table). */
      tenantExists: (tenantId: string) => Promise<boolean>;
    },
    private readonly publisher: Publisher<ApiKeysTopics>,
  ) {
    this.operatorDigest = opts.operatorKeyHash ?? (opts.operatorKey ? digest(opts.operatorKey) : null);
    this.cacheMs = opts.cacheMs;
    this.due = new DueTogether(opts.cacheMs, (k) => this.cache.get(k)?.until, Date.now);
    this.now = opts.now;
    this.tokens = new SubjectTokens(db, opts.now);
    this.tenantExists = opts.tenantExists;
    this.flushTimer = setInterval(() => {
      this.sweep();
      void this.flushLastUsed().catch(() => {});
    }, opts.lastUsedFlushMs);
    this.flushTimer.unref();
  }
  private readonly cacheMs: number;
  private readonly now: () => Date;
  private readonly tenantExists: (tenantId: string) => Promise<boolean>;

  static generateSecret(): { secret: string; prefix: string; hash: Buffer } {
    const prefix = `tly_${randomBytes(4).toString('hex')}`;
    const secret = `${prefix}_${randomBytes(32).toString('base64url')}`;
    return { secret, prefix, hash: digest(secret) };
  }

  /** The principal behind a bearer secret, or null when it is unknown, malformed, revoked or expired. */
  async authenticate(secret: string): Promise<Principal | null> {
    const p = await this.identify(secret);
    return p instanceof AppError ? null : p;
  }

  /** The principal behind a bearer secret, or the UNAUTHENTICATED error saying why not (an expired token says so). */
  async identify(secret: string): Promise<Principal | AppError> {
    const d = digest(secret);
    if (this.operatorDigest && timingSafeEqual(d, this.operatorDigest)) return OPERATOR_PRINCIPAL;
    const isToken = secret.startsWith('tsk_');
    const m = (isToken ? TOKEN_RE : SECRET_RE).exec(secret);
    const refused = () =>
      unauthenticated(
        isToken
          ? 'unknown or malformed subject token, or the key that minted it was revoked'
          : 'unknown, malformed or revoked API key',
      );
    if (!m) return refused();
    const cacheKey = d.toString('hex');
    const hit = this.cache.get(cacheKey);
    const nowMs = Date.now();
    let principal: Principal | null = null;
    if (hit && hit.until > nowMs) {
      principal = hit.principal;
      if (principal.key) this.due.used(cacheKey);
    } else if (hit?.principal.key) {
      principal = await this.renewals.load(cacheKey);
      if (!principal) return refused();
    } else {
      principal = await this.lookup(cacheKey, m[1] as string, d, isToken);
      if (!principal) return refused();
    }
    // Judged on every use, on the service's clock: a cached token is never accepted past it.
    if (principal.subject && principal.subject.expiresAt.getTime() <= this.now().getTime())
      return tokenExpired(principal.subject.expiresAt);
    if (principal.key) this.lastUsed.set(principal.key.id, this.now());
    return principal;
  }

  /** Tenant ADMIN, or the operator naming the tenant (the field's authScopes): a subject token, shown once. */
  createSubjectToken(scope: TenantScope, input: NewSubjectToken) {
    return this.tokens.mint(scope, input);
  }

  /**
   * Deletes subject tokens a day past their expiry, in batches; how many went. For that day an
   * expired token is still told "expired" rather than "unknown".
   */
  async pruneTokens(batch = 5000): Promise<number> {
    const before = new Date(this.now().getTime() - 86_400_000);
    return inBatches(batch, (limit) => store.pruneTokens(this.db, before, limit));
  }

  /**
   * Drops a revoked key, and the subject tokens it minted, from the authentication cache (this
   * instance's own revocations, and other instances' via pub/sub).
   */
  forget(keyId: string) {
    this.generation++;
    this.lookups.clear();
    for (const [k, v] of this.cache)
      if (v.principal.key?.id === keyId || v.principal.subject?.mintedBy === keyId) this.cache.delete(k);
  }

  /**
   * Drops entries that ran out more than a period before `now`: an entry is only worth keeping
   * while it is used (a key's next use reads it again either way), and without this every
   * subject token ever used, expired ones included, would stay in memory until a restart.
   * Answers how many entries remain (for tests and metrics).
   */
  sweep(now = Date.now()): number {
    for (const [k, e] of this.cache)
      if (e.until < now - this.cacheMs) {
        this.cache.delete(k);
        this.due.drop(k);
      }
    return this.cache.size;
  }

  /** Which of `ids` are revoked (or gone) now, from the database: the re-check of open streams' keys. */
  async revokedAmong(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const live = await store.liveKeyIds(this.db, ids);
    const ok = new Set(live.map((r) => r.id));
    return ids.filter((id) => !ok.has(id));
  }

  private lookup(cacheKey: string, prefix: string, d: Buffer, isToken: boolean): Promise<Principal | null> {
    const inflight = this.lookups.get(cacheKey);
    if (inflight) return inflight;
    const generation = this.generation;
    const matches = (stored: Buffer) => stored.length === d.length && timingSafeEqual(stored, d);
    const p = (async () => {
      let principal: Principal | null = null;
      if (isToken) principal = await this.tokens.lookup(prefix, matches);
      else {
        const row = await store.keyByPrefix(this.db, prefix);
        if (row && matches(row.secretHash) && !row.revokedAt) principal = principalForKey(row);
      }
      if (!principal) {
        this.cache.delete(cacheKey);
        return null;
      }
      if (generation === this.generation) this.cache.set(cacheKey, { principal, until: Date.now() + this.cacheMs });
      return principal;
    })().finally(() => {
      if (this.lookups.get(cacheKey) === p) this.lookups.delete(cacheKey);
    });
    this.lookups.set(cacheKey, p);
    return p;
  }

  /** lastUsedAt including uses not yet flushed to the database. */
  lastUsedAt(row: ApiKeyRow): Date | null {
    const pending = this.lastUsed.get(row.id);
    if (pending && (!row.lastUsedAt || pending > row.lastUsedAt)) return pending;
    return row.lastUsedAt;
  }

  /** Writes pending lastUsedAt values in one statement (never a write per request). */
  async flushLastUsed(): Promise<number> {
    if (this.lastUsed.size === 0) return 0;
    const entries = [...this.lastUsed.entries()];
    this.lastUsed.clear();
    await store.flushLastUsed(this.db, entries);
    return entries.length;
  }

  /** Tenant ADMIN or operator (the field's authScopes). */
  async create(
    scope: TenantScope,
    input: { tenantId?: string | null; name: string; scopes: string[] },
    tx?: Sql,
  ): Promise<NewApiKey> {
    const tenantId = tenantIn(scope, input.tenantId, ['input', 'tenantId']);
    const name = input.name.trim();
    if (name.length < 1 || name.length > 100 || containsNul(name))
      throw badInput(['input', 'name'], 'must be 1 to 100 characters, without NUL');
    const scopes = [...new Set(input.scopes)];
    if (scopes.length === 0) throw badInput(['input', 'scopes'], 'give at least one scope');
    if (scopes.some((s) => !API_KEY_SCOPES.includes(s as ApiKeyScope)))
      throw badInput(['input', 'scopes'], 'unknown scope');
    const run = async (sql: Sql) => {
      // Inside createTenant's transaction the tenant is the one just made (not yet visible to others).
      if (!tx) {
        if (!(await this.tenantExists(tenantId))) throw notFound('tenant', ['input', 'tenantId']);
      }
      for (let attempt = 0; ; attempt++) {
        const { secret, prefix, hash } = ApiKeysService.generateSecret();
        try {
          const row = await store.insertKey(sql, { tenantId, name, prefix, hash, scopes });
          if (row) return { apiKey: row, secret };
        } catch (err) {
          if (pgCode(err) === '23503') throw notFound('tenant', ['input', 'tenantId']);
          throw err;
        }
        if (attempt > 5) throw new AppError('INTERNAL', 'could not allocate a key prefix');
      }
    };
    return tx ? run(tx) : run(this.db);
  }

  /** Tenant ADMIN or operator (the field's authScopes). */
  async revoke(scope: TenantScope, id: string): Promise<ApiKeyRow> {
    if (!isUuid(id)) throw notFound('API key', ['id']);
    const row = await store.revokeKey(this.db, id, ownerOf(scope));
    // Another tenant's key is reported exactly like a missing one: its existence is not revealed.
    if (!row) throw notFound('API key', ['id']);
    this.forget(id);
    // This instance's own streams of the key end at once, in process: with Redis away the
    // published message would reach nobody (other instances re-check, key-recheck.ts).
    this.emitter.emit('revoked', id);
    this.publisher.publish('keys:revoked', { keyId: id });
    return row;
  }

  async byIds(ids: readonly string[]): Promise<ApiKeyRow[]> {
    ids = ids.filter(isUuid);
    if (ids.length === 0) return [];
    return store.keysByIds(this.db, ids);
  }

  /**
   * Key `id` with its tenant, when it exists (in `tenantId` unless null): how other modules
   * check a key id they were given. Runs on `sql`, so a transaction can ask.
   */
  async ownerOf(
    id: string,
    tenantId: string | null,
    sql: Sql = this.db,
  ): Promise<{ id: string; tenantId: string } | null> {
    if (!isUuid(id)) return null;
    return store.keyOwner(sql, id, tenantId);
  }

  async listForTenant(tenantId: string, includeRevoked: boolean): Promise<ApiKeyRow[]> {
    return store.keysOfTenant(this.db, tenantId, includeRevoked);
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.flushLastUsed().catch(() => {});
  }
}
