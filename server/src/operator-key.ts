// The operator's secret. Instances of one database agree on it: its SHA-256 is kept in the
// database (operator_key, one row), and every instance accepts the key whose hash is there.
// - TALLY_OPERATOR_KEY set: its hash is written there (a different one is replaced: setting
//   the variable is how the key is rotated; restart the other instances to pick it up).
// - not set, a hash there: that key (another instance made it, or the variable did).
// - not set, none there: the key in the data directory's operator-key file, or a new one,
//   generated, printed once and kept in that file (mode 0600); its hash is written there.
// The first instance to start writes it (under a lock), the others read it. Written as the
// tables' owner: the service's runtime role may only read it.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

export const operatorKeyHash = (key: string) => createHash('sha256').update(key).digest();

export interface OperatorKey {
  hash: Buffer;
  /** Set when this instance generated the key: print it once. */
  generated?: { key: string; file: string };
  /** TALLY_OPERATOR_KEY replaced a different key kept in the database. */
  replaced?: boolean;
}

export async function settleOperatorKey(ownerUrl: string, dataDir: string, given?: string): Promise<OperatorKey> {
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  try {
    await c.query('BEGIN');
    await c.query("SELECT pg_advisory_xact_lock(hashtextextended('tally:operator-key', 0))");
    const { rows } = await c.query<{ hash: Buffer }>('SELECT key_hash AS hash FROM operator_key');
    const kept = rows[0]?.hash;
    let out: OperatorKey;
    if (given) {
      const hash = operatorKeyHash(given);
      out = { hash, replaced: !!kept && !kept.equals(hash) };
    } else if (kept) {
      out = { hash: kept };
    } else {
      const file = path.join(dataDir, 'operator-key');
      if (existsSync(file)) out = { hash: operatorKeyHash(readFileSync(file, 'utf8').trim()) };
      else {
        mkdirSync(dataDir, { recursive: true });
        const key = `tly_op_${randomBytes(32).toString('base64url')}`;
        writeFileSync(file, `${key}\n`, { mode: 0o600 });
        out = { hash: operatorKeyHash(key), generated: { key, file } };
      }
    }
    if (!kept?.equals(out.hash))
      await c.query(
        `INSERT INTO operator_key (id, key_hash) VALUES (true, $1)
         ON CONFLICT (id) DO UPDATE SET key_hash = excluded.key_hash, updated_at = now()`,
        [out.hash],
      );
    await c.query('COMMIT');
    return out;
  } finally {
    await c.end();
  }
}
