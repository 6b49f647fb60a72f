// Shapes of the credits module: rows as the store reads them (money as numeric text, never a
// JS number) and the wallet as the API shows it.

export type MovementKind = 'GRANT' | 'DEBIT' | 'CREDIT_BACK' | 'EXPIRY' | 'VOID';

export interface WalletRow {
  id: string;
  tenantId: string;
  subject: string | null;
  currency: string;
  /** The cached sum of the wallet's movements. */
  balance: string;
  lowBalanceThreshold: string | null;
  lowBalanceSince: Date | null;
  depletedSince: Date | null;
}

export interface GrantRow {
  id: string;
  tenantId: string;
  walletId: string;
  idempotencyKey: string;
  fingerprint: string;
  amount: string;
  remaining: string;
  priority: number;
  effectiveAt: Date;
  expiresAt: Date | null;
  reason: string | null;
  createdAt: Date;
  voidedAt: Date | null;
  expiredAt: Date | null;
}

/** A wallet as read: balance counts no expired or not yet effective grant. */
export interface WalletView {
  id: string;
  tenantId: string;
  subject: string | null;
  currency: string;
  balance: string;
  reserved: string;
  available: string;
  lowBalanceThreshold: string | null;
  lowBalanceSince: Date | null;
  depletedSince: Date | null;
  asOf: Date;
}

export interface NewMovement {
  tenantId: string;
  walletId: string;
  grantId: string | null;
  eventId: string | null;
  kind: MovementKind;
  /** Signed: what it adds to the balance. */
  amount: string;
  at: Date;
}
