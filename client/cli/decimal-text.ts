// Decimal strings for display; no Node-only code (the dashboard bundles it through price-diff.ts).

/** Drops trailing zeros of a 12-decimal string for display ("0.015345000000" -> "0.015345"). */
export const dec = (s: string | null | undefined) => (s == null ? '' : s.includes('.') ? s.replace(/\.?0+$/, '') : s);
