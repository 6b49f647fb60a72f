// TypeORM entity schemas: the shape of each table as TypeORM sees it. Repositories use them
// for simple reads; the hot paths (ledger, rollups) use named SQL through the Database port.
// A test compares them with what the migrations build, so the two cannot drift apart.
import { EntitySchema } from 'typeorm';

export interface TenantRow {
  id: string;
  name: string;
  timezone: string;
  /** ISO 4217; every cost of the tenant's ledger is in it (set at creation, then fixed). */
  currency: string;
  createdAt: Date;
}

export interface ApiKeyRow {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  secretHash: Buffer;
  scopes: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface PriceRow {
  id: string;
  tenantId: string | null;
  provider: string;
  model: string;
  currency: string;
  inputPerMillion: string | null;
  outputPerMillion: string | null;
  cachedInputPerMillion: string | null;
  cacheWriteInputPerMillion: string | null;
  perRequest: string | null;
  perSecond: string | null;
  perUnit: string | null;
  effectiveFrom: Date;
  effectiveTo: Date | null;
  createdAt: Date;
  /**
   * Rates above an input size (table price_tiers, read with the version; no entity of its
   * own), by aboveInputTokens ascending. Like the version, never changed once written.
   */
  tiers: PriceTierRow[];
}

/** Rates that replace a version's base rates for a call whose inputTokens exceed aboveInputTokens. */
export interface PriceTierRow {
  aboveInputTokens: number;
  inputPerMillion: string | null;
  outputPerMillion: string | null;
  cachedInputPerMillion: string | null;
  cacheWriteInputPerMillion: string | null;
}

const money = { type: 'numeric', precision: 38, scale: 12, nullable: true } as const;

export const TenantEntity = new EntitySchema<TenantRow>({
  name: 'Tenant',
  tableName: 'tenants',
  columns: {
    id: { type: 'uuid', primary: true, generated: 'uuid' },
    name: { type: 'text' },
    timezone: { type: 'text', default: 'UTC' },
    currency: { type: 'text', default: 'USD' },
    createdAt: { name: 'created_at', type: 'timestamptz', createDate: true },
  },
  checks: [
    { name: 'tenants_name_check', expression: 'length(name) BETWEEN 1 AND 200' },
    { name: 'tenants_currency_check', expression: "currency ~ '^[A-Z]{3}$'" },
  ],
});

export const ApiKeyEntity = new EntitySchema<ApiKeyRow>({
  name: 'ApiKey',
  tableName: 'api_keys',
  columns: {
    id: { type: 'uuid', primary: true, generated: 'uuid' },
    tenantId: { name: 'tenant_id', type: 'uuid' },
    name: { type: 'text' },
    prefix: { type: 'text' },
    secretHash: { name: 'secret_hash', type: 'bytea' },
    scopes: { type: 'text', array: true },
    createdAt: { name: 'created_at', type: 'timestamptz', createDate: true },
    lastUsedAt: { name: 'last_used_at', type: 'timestamptz', nullable: true },
    revokedAt: { name: 'revoked_at', type: 'timestamptz', nullable: true },
  },
  relations: {
    tenant: {
      type: 'many-to-one',
      target: 'Tenant',
      joinColumn: { name: 'tenant_id', foreignKeyConstraintName: 'api_keys_tenant_id_fkey' },
    },
  } as never,
  uniques: [
    { name: 'api_keys_prefix_key', columns: ['prefix'] },
    { name: 'api_keys_tenant_id_id_key', columns: ['tenantId', 'id'] },
  ],
});

export const PriceEntity = new EntitySchema<PriceRow>({
  name: 'Price',
  tableName: 'prices',
  columns: {
    id: { type: 'uuid', primary: true, generated: 'uuid' },
    tenantId: { name: 'tenant_id', type: 'uuid', nullable: true },
    provider: { type: 'text' },
    model: { type: 'text' },
    currency: { type: 'text' },
    inputPerMillion: { name: 'input_per_million', ...money },
    outputPerMillion: { name: 'output_per_million', ...money },
    cachedInputPerMillion: { name: 'cached_input_per_million', ...money },
    cacheWriteInputPerMillion: { name: 'cache_write_input_per_million', ...money },
    perRequest: { name: 'per_request', ...money },
    perSecond: { name: 'per_second', ...money },
    perUnit: { name: 'per_unit', ...money },
    effectiveFrom: { name: 'effective_from', type: 'timestamptz' },
    effectiveTo: { name: 'effective_to', type: 'timestamptz', nullable: true },
    createdAt: { name: 'created_at', type: 'timestamptz', createDate: true },
  },
  relations: {
    tenant: {
      type: 'many-to-one',
      target: 'Tenant',
      nullable: true,
      joinColumn: { name: 'tenant_id', foreignKeyConstraintName: 'prices_tenant_id_fkey' },
    },
  } as never,
  checks: [{ name: 'prices_window_check', expression: 'effective_to IS NULL OR effective_to > effective_from' }],
  indices: [
    // NULLS NOT DISTINCT: one platform (NULL tenant) version per instant too. TypeORM cannot
    // express that clause, so the migration owns this index.
    {
      name: 'prices_version_key',
      columns: ['tenantId', 'provider', 'model', 'effectiveFrom'],
      unique: true,
      synchronize: false,
    },
    { name: 'prices_model_idx', columns: ['model', 'provider', 'effectiveFrom'] },
  ],
});

export const entities = [TenantEntity, ApiKeyEntity, PriceEntity];
