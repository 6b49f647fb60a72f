// The test world: the product's own nouns over the typed client, in process through
// yoga.fetch (no port). A test says what it needs and reads like the product:
//
//   const world = await World.create('quota-plans');
//   const acme = await world.tenant('acme').onPlan([{ metric: 'COST', period: 'DAY', amount: '1' }]).withKey('INGEST');
//   await acme.record({ cost: '0.9' });
//   expect(world.item(await acme.quota(), acme.limit(0))).toMatchObject({ used: dec('0.9') });
//
// Every call is typed from the schema (client/src/documents.ts); a refusal is a TallyError
// with the contract code and field (`await world.refusal(acme.release(id))`). The harness
// underneath (world.h) stays for raw GraphQL, SQL and real HTTP servers.
import { randomUUID } from 'node:crypto';
import { createTallyClient, graphql, type TallyClient, TallyError } from '@tally/client';
import type { TadaDocumentNode } from 'gql.tada';
import { print } from 'graphql';
import { afterAll, expect } from 'vitest';
import { type App, createApp } from '../../server/src/app';
import { type Config, loadConfig } from '../../server/src/config';
import { type Database, openDatabase } from '../../server/src/db/database';
import { createLogger } from '../../server/src/observability';
import { appUrlFor, createHarness, type GqlResult, type Harness, OPERATOR_KEY } from './harness';

type Arg<K extends keyof TallyClient, I extends number = 0> = Parameters<TallyClient[K]>[I];
type Result<K extends keyof TallyClient> = Awaited<ReturnType<TallyClient[K]>>;

export type LimitInput = Arg<'upsertPlan'>['limits'][number];
export type RecordInput = Arg<'recordUsage'>;
export type AuthorizeInput = Arg<'authorizeUsage'>;
export type Scope = 'INGEST' | 'READ' | 'ADMIN';
export type Plan = Result<'upsertPlan'>;
export type Quota = Result<'quotaStatus'>;
export type QuotaItem = Quota['items'][number];
export type Recorded = Result<'recordUsage'>;
export type Authorization = Result<'authorizeUsage'>;

/** Documents of the world's own verbs that the client has no method for. */
export const CreateSubjectToken = graphql(`
  mutation CreateSubjectToken($input: CreateSubjectTokenInput!) {
    createSubjectToken(input: $input) { token subject expiresAt }
  }
`);
export const SubjectMemberships = graphql(`
  query SubjectMemberships($id: ID!, $first: Int, $after: String, $subject: String) {
    tenant(id: $id) {
      subjectMemberships(first: $first, after: $after, subject: $subject) {
        edges { cursor node { subject startsAt endsAt plan { id code } tenant { id } } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`);
export type SubjectTokenOptions = { expiresInSeconds?: number; maxRangeDays?: number };

/** The fixed decimal spelling the API uses: "1.5" -> "1.500000000000". */
export const dec = (v: string | number) => {
  const [i, f = ''] = String(v).split('.');
  return `${i}.${f.padEnd(12, '0')}`;
};

let seq = 0;
/** A name no other test of this process uses. */
export const uniq = (p: string) => `${p}-${++seq}-${randomUUID().slice(0, 8)}`;

/** The instant most quota scenarios happen at. */
export const NOON = '2026-06-15T12:00:00.000Z';

/** Since long before any clock these tests set: plan memberships and prices start here. */
export const LONG_AGO = '2020-01-01T00:00:00Z';

/** A typed client of `app` over yoga.fetch: no port, no retries (a test sees every failure). */
export function inProcessClient(app: App, apiKey: string, host = 'tally.test'): TallyClient {
  return createTallyClient({
    url: `http://${host}/graphql`,
    apiKey,
    maxAttempts: 1,
    fetch: ((url: string, init: RequestInit) => app.yoga.fetch(url, init)) as typeof fetch,
  });
}

/** What one caller (an API key) may do, typed: the verbs of the product. */
export class Caller {
  readonly client: TallyClient;
  constructor(
    readonly world: World,
    readonly secret: string,
    client?: TallyClient,
  ) {
    this.client = client ?? world.client(secret);
  }
  /** recordUsage; a fresh idempotency key and kind CALL unless given. */
  record(input: Partial<RecordInput> = {}): Promise<Recorded> {
    return this.client.recordUsage({ idempotencyKey: uniq('ev'), kind: 'CALL', ...input } as RecordInput);
  }
  recordBatch(items: Partial<RecordInput>[]) {
    return this.client.recordUsageBatch(
      items.map((i) => ({ idempotencyKey: uniq('ev'), kind: 'CALL', ...i }) as RecordInput),
    );
  }
  reverse(eventId: string, idempotencyKey = uniq('rev')) {
    return this.client.reverseUsage({ eventId, idempotencyKey });
  }
  authorize(input: Partial<AuthorizeInput> = {}): Promise<Authorization> {
    return this.client.authorizeUsage({ estimate: {}, ...input });
  }
  release(reservationId: string) {
    return this.client.releaseReservation(reservationId);
  }
  quota(args: Arg<'quotaStatus'> = {}): Promise<Quota> {
    return this.client.quotaStatus(args);
  }
  alerts(args: Arg<'quotaAlertHistory'> = {}) {
    return this.client.quotaAlertHistory(args);
  }
  plans() {
    return this.client.plans();
  }
}

export interface WorldKey extends Caller {
  id: string;
}

/** A caller holding a subject token: it reads one subject of its tenant. */
export interface SubjectCaller extends Caller {
  subject: string;
  expiresAt: string;
}

/**
 * A seeded tenant: its admin key, the plan it is on, and (withKey) the key it works with.
 * record, authorize and release go through that key; quota, alerts and plans through the admin.
 */
export class WorldTenant extends Caller {
  constructor(
    world: World,
    readonly id: string,
    readonly name: string,
    readonly timezone: string,
    readonly admin: Caller,
    readonly adminKeyId: string,
    readonly plan: Plan | null,
    /** The key of withKey(), or the admin key: what record/authorize/quota use. */
    readonly main: { secret: string; id: string },
  ) {
    super(world, main.secret, main.secret === admin.secret ? admin.client : undefined);
  }
  get adminKey() {
    return this.admin.secret;
  }
  /** The id of the plan's limit number `i` (in the plan's order). */
  limit(i = 0): string {
    const l = this.plan?.limits[i];
    if (!l) throw new Error(`${this.name} has no limit ${i}`);
    return l.id;
  }
  /** Another key of this tenant, made by its admin. */
  async key(scopes: Scope[], name = scopes.join('+').toLowerCase()): Promise<WorldKey> {
    const k = await this.admin.client.createApiKey({ name, scopes });
    return Object.assign(new Caller(this.world, k.secret), { id: k.apiKey.id });
  }
  /** setApiKeyLimits on `keyId` (by this tenant's admin). */
  async setKeyLimits(keyId: string, limits: LimitInput[]) {
    return this.admin.client.setApiKeyLimits({ apiKeyId: keyId, limits });
  }
  membership = async () => (await this.admin.client.tenant(this.id))?.membership ?? null;
  /**
   * Gives one subject of this tenant a plan of its own (operator's assignPlan with subject): a
   * new plan with these limits, or an existing plan (or plan code), since `startsAt`.
   */
  async onSubjectPlan(subject: string, plan: LimitInput[] | Plan | string, startsAt = LONG_AGO): Promise<Plan> {
    const p = Array.isArray(plan)
      ? await this.world.plan(plan)
      : typeof plan === 'string'
        ? ((await this.world.operator.plans()).find((x) => x.code === plan) as Plan)
        : plan;
    await this.world.operator.assignPlan({ tenantId: this.id, planCode: p.code, startsAt, subject });
    return p;
  }
  /** A subject token for `subject`, minted by this tenant's admin, and a caller holding it. */
  async subjectToken(subject: string, opts: SubjectTokenOptions = {}): Promise<SubjectCaller> {
    const { createSubjectToken: t } = await this.admin.client.request(CreateSubjectToken, {
      input: { subject, ...opts },
    });
    return Object.assign(new Caller(this.world, t.token), { subject: t.subject, expiresAt: t.expiresAt });
  }
  /** A page of the tenant's subject memberships, as its admin reads them. */
  async subjectMemberships(args: { first?: number; after?: string; subject?: string } = {}) {
    const r = await this.admin.client.request(SubjectMemberships, { id: this.id, ...args });
    return r.tenant?.subjectMemberships ?? null;
  }
  // Reading the tenant's quota, alerts and plans is its admin's job (an INGEST key may not).
  override quota(args: Arg<'quotaStatus'> = {}): Promise<Quota> {
    return this.admin.quota(args);
  }
  override alerts(args: Arg<'quotaAlertHistory'> = {}) {
    return this.admin.alerts(args);
  }
  override plans() {
    return this.admin.plans();
  }
}

/** `world.tenant('acme').onPlan([...]).withKey('INGEST')`: awaited, it seeds and answers a WorldTenant. */
export class TenantBuilder implements PromiseLike<WorldTenant> {
  private planArg: LimitInput[] | Plan | string | null = null;
  private planStartsAt = LONG_AGO;
  private scopes: Scope[] | null = null;
  constructor(
    private readonly world: World,
    private readonly name: string,
    private readonly timezone: string,
  ) {}
  /** On a new plan with these limits, or on an existing plan (or plan code), since LONG_AGO. */
  onPlan(plan: LimitInput[] | Plan | string, startsAt = LONG_AGO): this {
    this.planArg = plan;
    this.planStartsAt = startsAt;
    return this;
  }
  /** A key of its own with these scopes, which the tenant's verbs then use. */
  withKey(...scopes: Scope[]): this {
    this.scopes = scopes;
    return this;
  }
  // biome-ignore lint/suspicious/noThenProperty: awaiting the builder is what seeds the tenant.
  then<A = WorldTenant, B = never>(
    ok?: ((t: WorldTenant) => A | PromiseLike<A>) | null,
    fail?: ((e: unknown) => B | PromiseLike<B>) | null,
  ): PromiseLike<A | B> {
    return this.build().then(ok, fail);
  }
  private async build(): Promise<WorldTenant> {
    const w = this.world;
    const plan =
      this.planArg === null
        ? null
        : Array.isArray(this.planArg)
          ? await w.plan(this.planArg)
          : typeof this.planArg === 'string'
            ? (((await w.operator.plans()).find((p) => p.code === this.planArg) as Plan | undefined) ?? null)
            : this.planArg;
    const created = await w.operator.createTenant({ name: this.name, timezone: this.timezone });
    const t = created.apiKey.tenant;
    if (plan) await w.operator.assignPlan({ tenantId: t.id, planCode: plan.code, startsAt: this.planStartsAt });
    const admin = new Caller(w, created.secret);
    let main = { secret: created.secret, id: created.apiKey.id };
    if (this.scopes) {
      const k = await admin.client.createApiKey({ name: this.scopes.join('+').toLowerCase(), scopes: this.scopes });
      main = { secret: k.secret, id: k.apiKey.id };
    }
    return new WorldTenant(w, t.id, this.name, this.timezone, admin, created.apiKey.id, plan, main);
  }
}

/** Another app on the same database (its own pool, caches, pub/sub), sharing the world's clock. */
export interface Instance {
  app: App;
  /** A caller of this instance. */
  as(secret: string): Caller;
  close(): Promise<void>;
}

export class World {
  readonly operator: TallyClient;
  private readonly clients: TallyClient[] = [];
  private readonly instances: Instance[] = [];

  private constructor(
    readonly h: Harness,
    private readonly config: Partial<Config>,
    private readonly owned: boolean,
  ) {
    this.operator = this.client(OPERATOR_KEY);
  }

  /** A fresh database and app for one test file. */
  static async create(label: string, opts: Parameters<typeof createHarness>[1] = {}): Promise<World> {
    return new World(await createHarness(label, opts), opts.config ?? {}, true);
  }

  /** The world of one test file (`const world = await World.forFile('label')` at its top), closed after its tests. */
  static async forFile(label: string, opts: Parameters<typeof createHarness>[1] = {}): Promise<World> {
    const world = await World.create(label, opts);
    afterAll(() => world.close());
    return world;
  }

  /** A world over a harness a file already has (closing the world leaves the harness open). */
  static on(h: Harness, config: Partial<Config> = {}): World {
    return new World(h, config, false);
  }

  get clock() {
    return this.h.clock;
  }

  /** A typed client with this key, over the world's app. */
  client(apiKey: string): TallyClient {
    const c = inProcessClient(this.h.app, apiKey);
    this.clients.push(c);
    return c;
  }

  /**
   * The whole answer (data, errors, HTTP status) to a typed document, for tests about the
   * envelope itself: what a refusal leaves in `data`, what it must not leak.
   */
  raw<R, V>(key: string | null, doc: TadaDocumentNode<R, V>, variables?: V): Promise<GqlResult<R>> {
    return this.h.gql<R>(key, print(doc), variables as Record<string, unknown> | undefined);
  }

  /** A caller holding any key (the operator's, or one a test made). */
  as(secret: string): Caller {
    return new Caller(this, secret);
  }

  /** A new plan (operator), named uniquely unless `code` is given. */
  plan(limits: LimitInput[], code = uniq('plan')): Promise<Plan> {
    return this.operator.upsertPlan({ code, name: code, limits });
  }

  /** A tenant to build: `.onPlan([...])`, `.withKey('INGEST')`, then await it. */
  tenant(name = 'acme', timezone = 'UTC'): TenantBuilder {
    return new TenantBuilder(this, name, timezone);
  }

  /** The quota item of one limit (exactly one must exist). */
  item<I extends { limit: { id: string } }>(status: { items: readonly I[] }, limitId: string): I {
    const found = status.items.filter((i) => i.limit.id === limitId);
    expect(found, `one item for limit ${limitId}`).toHaveLength(1);
    return found[0] as I;
  }

  /** The TallyError a call is refused with (fails the test when it succeeds). */
  async refusal(p: Promise<unknown>): Promise<TallyError> {
    try {
      await p;
    } catch (e) {
      if (e instanceof TallyError) return e;
      throw e;
    }
    throw new Error('expected the call to be refused');
  }

  /** Rows of `table` belonging to a tenant. */
  async count(table: string, tenantId: string): Promise<number> {
    const [r] = await this.h.sql(`SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`, [tenantId]);
    return r.n;
  }

  async secondInstance(): Promise<Instance> {
    const db: Database = await openDatabase(this.h.url, { poolSize: 10, appUrl: appUrlFor(this.h.url) });
    const app = createApp({
      db,
      config: {
        ...loadConfig({}),
        operatorKey: OPERATOR_KEY,
        lastUsedFlushMs: 3_600_000,
        // as createHarness: the webhook worker only where a test turns it on
        webhooks: { ...loadConfig({}).webhooks, worker: false },
        ...this.config,
      },
      logger: createLogger(process.env.TEST_LOG ?? 'silent'),
      now: this.h.clock.now,
    });
    const clients: TallyClient[] = [];
    const world = this;
    const instance: Instance = {
      app,
      as(secret) {
        const c = inProcessClient(app, secret, 'tally-2.test');
        clients.push(c);
        return new Caller(world, secret, c);
      },
      async close() {
        const i = world.instances.indexOf(instance);
        if (i >= 0) world.instances.splice(i, 1);
        await Promise.all(clients.map((c) => c.close()));
        await app.close();
        await db.close();
      },
    };
    this.instances.push(instance);
    return instance;
  }

  async close() {
    for (const i of [...this.instances]) await i.close();
    await Promise.all(this.clients.map((c) => c.close()));
    if (this.owned) await this.h.close();
  }
}

/** The seed of files that run real servers: a plan with `limits`, a tenant on it, and a READ key. */
export interface PlannedTenant {
  id: string;
  adminKey: string;
  adminKeyId: string;
  reader: { secret: string; id: string };
}

/**
 * A tenant on a new plan, through any typed client (an in-process world's, or one over a real
 * HTTP server): `connect(key)` makes the client of a key. The membership starts now.
 */
export async function plannedTenant(
  connect: (key: string) => TallyClient,
  name: string,
  limits: LimitInput[],
): Promise<PlannedTenant> {
  const code = uniq(`plan-${name}`);
  const operator = connect(OPERATOR_KEY);
  await operator.upsertPlan({ code, name: code, limits });
  const created = await operator.createTenant({ name, planCode: code });
  const reader = await connect(created.secret).createApiKey({ name: 'reader', scopes: ['READ'] });
  return {
    id: created.apiKey.tenant.id,
    adminKey: created.secret,
    adminKeyId: created.apiKey.id,
    reader: { secret: reader.secret, id: reader.apiKey.id },
  };
}
