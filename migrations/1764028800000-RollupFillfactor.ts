// Rollup rows are counters: every recorded batch updates the same few rows of the hour.
// With fillfactor 70 each page keeps room for new row versions, so those updates are HOT
// (no new index entries, no index bloat) instead of moving the row to another page.
// Applies to pages written from now on; existing pages fill as before.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class RollupFillfactor1764028800000 implements MigrationInterface {
  name = 'RollupFillfactor1764028800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE usage_rollups_hourly SET (fillfactor = 70)');
    await q.query('ALTER TABLE usage_rollups_hourly_keys SET (fillfactor = 70)');
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
