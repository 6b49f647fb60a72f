// Vitest global setup: the dashboard's assets are built before any test starts, so the
// browser tests (test/dashboard/) and `/` find them on a clean clone.
// @ts-expect-error a plain ES module script, no types
import { buildDashboard } from '../../scripts/build-dashboard.mjs';

export default async function setup() {
  await buildDashboard();
}
