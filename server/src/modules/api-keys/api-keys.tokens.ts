// Subject tokens: short-lived bearer secrets with which a tenant's own product shows one end
// user (a subject) its usage and quota, straight from Tally. Minted by the tenant's ADMIN key
// (or the operator, naming the tenant), stored like keys (a visible prefix and a SHA-256
// digest, never the secret), and turned into a `subject` Principal by authentication
// (api-keys.service.ts): it reads (READ) only its subject, within maxRangeDays, until expiresAt,
// and only while the key that minted it is not revoked.
//
// Format: tsk_<8 hex>_<43 base64url>: the first 12 characters are the visible prefix it is
// found by; 256 random bits follow, so a plain SHA-256 digest is a safe stored form.
import { hash, randomBytes } from 'node:crypto';
import { type Principal, principalForSubjectToken } from '../../auth/principal';
import { type TenantScope, tenantIn } from '../../auth/scope';
import { type Database, pgCode } from '../../db/database';
import { AppError, badInput, notFound } from '../../lib/errors';
import { textProblem } from '../../lib/input';
import * as store from './api-keys.store';

export const TOKEN_RE = /^(tsk_[0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;
export const MAX_TOKEN_SECONDS = 86_400;
/** A token's range cap can be no wider than every query's own (400 days). */
const MAX_RANGE_DAYS = 400;

export interface SubjectToken {
  token: string;
  subject: string;
  expiresAt: Date;
}

export interface NewSubjectToken {
  tenantId?: string | null;
  subject: string;
  expiresInSeconds?: number | null;
  maxRangeDays?: number | null;
}

/** The stored form of a secret, key or token (crypto.hash: one call, no Hash object; every request digests its bearer). */
export const digest = (secret: string) => hash('sha256', secret, 'buffer') as unknown as Buffer;

/** Checks a mint request; returns the normalized values or BAD_USER_INPUT naming the field. */
function checked(input: NewSubjectToken) {
  const subject = input.subject;
  const problem = textProblem(subject);
  if (subject.length < 1 || subject.length > 255 || problem)
    throw badInput(['input', 'subject'], problem ?? 'must be 1 to 255 characters');
  const seconds = input.expiresInSeconds ?? 3600;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TOKEN_SECONDS)
    throw badInput(['input', 'expiresInSeconds'], `must be 1 to ${MAX_TOKEN_SECONDS} seconds`);
  const days = input.maxRangeDays ?? null;
  if (days !== null && (!Number.isInteger(days) || days < 1 || days > MAX_RANGE_DAYS))
    throw badInput(['input', 'maxRangeDays'], `must be 1 to ${MAX_RANGE_DAYS} days`);
  return { subject, seconds, days };
}

export class SubjectTokens {
  constructor(
    private readonly db: Database,
    private readonly now: () => Date,
  ) {}

  /** Tenant ADMIN, or the operator naming the tenant (the field's authScopes). */
  async mint(scope: TenantScope, input: NewSubjectToken): Promise<SubjectToken> {
    const tenantId = tenantIn(scope, input.tenantId, ['input', 'tenantId']);
    const { subject, seconds, days } = checked(input);
    const expiresAt = new Date(this.now().getTime() + seconds * 1000);
    for (let attempt = 0; attempt < 6; attempt++) {
      const prefix = `tsk_${randomBytes(4).toString('hex')}`;
      const token = `${prefix}_${randomBytes(32).toString('base64url')}`;
      const row = {
        tenantId,
        apiKeyId: scope.keyId,
        subject,
        prefix,
        hash: digest(token),
        maxRangeDays: days,
        expiresAt,
      };
      try {
        if (await store.insertToken(this.db, row)) return { token, subject, expiresAt };
      } catch (err) {
        if (pgCode(err) === '23503') throw notFound('tenant', ['input', 'tenantId']);
        throw err;
      }
    }
    throw new AppError('INTERNAL', 'could not allocate a token prefix');
  }

  /**
   * The principal of the token with this visible prefix whose stored digest `matches`, or
   * null: unknown, or the key that minted it revoked. Expiry is judged by the caller on every
   * use (a cached principal outlives no token).
   */
  async lookup(prefix: string, matches: (stored: Buffer) => boolean): Promise<Principal | null> {
    const row = await store.tokenByPrefix(this.db, prefix);
    if (!row || !matches(row.secretHash) || row.keyRevoked) return null;
    return principalForSubjectToken(row.tenantId, {
      subject: row.subject,
      maxRangeDays: row.maxRangeDays,
      expiresAt: row.expiresAt,
      mintedBy: row.apiKeyId,
    });
  }
}

export const tokenExpired = (at: Date) =>
  new AppError(
    'UNAUTHENTICATED',
    `this subject token expired at ${at.toISOString()}; mint a new one (createSubjectToken)`,
  );
