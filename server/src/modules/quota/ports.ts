// The port quota offers the module that gates authorizations by money (credits): quota owns
// the decision and its reservation; the gate is asked around it and never names quota's tables.
// The composition root (services.ts) hands the gate to the authorizer once.

/** What the gate sees of a decision: whether it was allowed and the reservation it holds. */
export interface GatedDecision {
  allowed: boolean;
  deniedBy: unknown;
  reservation: { id: string; expiresAt: Date } | null;
}

export interface WalletCall {
  tenantId: string;
  subject: string | null;
  /** The estimate as checked (money as decimal text). */
  est: { cost: string; inputTokens: string; outputTokens: string };
  /** The model the estimate's tokens would be priced at, when given. */
  model?: { provider: string | null; model: string } | null;
}

export interface WalletGate {
  /**
   * Runs quota's decision (`decide`) and, when it allowed the call, checks (and with a
   * reservation, holds) the cost estimate against the paying wallet, under its lock. A call
   * the wallet denies is denied with deniedBy null, and its reservation is undone (`undo`).
   * The answer carries the wallet (`wallet`, null when none applies).
   */
  authorize<D extends GatedDecision>(
    call: WalletCall,
    decide: () => Promise<D>,
    undo: (reservationId: string) => Promise<void>,
  ): Promise<D & { wallet: unknown }>;
  /** A reservation was released: its hold goes. */
  released(tenantId: string, reservationId: string): Promise<void>;
}
