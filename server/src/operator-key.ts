// The operator's secret: TALLY_OPERATOR_KEY, or generated at first start, printed once and
// kept in the data directory (mode 0600) so restarts keep it.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function operatorKey(dataDir: string, given?: string): { key: string; generated: boolean; file?: string } {
  if (given) return { key: given, generated: false };
  const file = path.join(dataDir, 'operator-key');
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), generated: false, file };
  mkdirSync(dataDir, { recursive: true });
  const key = `tly_op_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { key, generated: true, file };
}
