// One PostgreSQL for the whole run: DATABASE_URL's server when set, else an embedded one
// (fsync off: test data is disposable). Each test file creates its own database in it.
import { rm } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../../server/src/db/embedded';

let embedded: EmbeddedDatabase | null = null;
let dir: string | null = null;

export default async function setup(project: TestProject) {
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    // A directory per run, so parallel runs on one machine never share a cluster.
    dir = `.data/test-pg/run-${process.pid}`;
    await rm(dir, { recursive: true, force: true });
    embedded = await startEmbeddedPostgres({ dir, fast: true });
    dir = embedded.dir; // moved elsewhere when, as root, the postgres user cannot enter the checkout
    adminUrl = embedded.url('postgres');
  }
  project.provide('pgAdminUrl', adminUrl);
  return async () => {
    await embedded?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}
