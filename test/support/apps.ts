// More apps on a test's database: the production build of the same service (no introspection,
// no "Did you mean"), and posting one operation to any app in process.
import { type App, createApp } from '../../server/src/app';
import { loadConfig } from '../../server/src/config';
import type { Database } from '../../server/src/db/database';
import { createLogger } from '../../server/src/observability';
import { type GqlResult, OPERATOR_KEY } from './harness';

/** The service as NODE_ENV=production builds it, on `db`; close it after use. */
export function productionApp(db: Database): App {
  return createApp({
    db,
    config: { ...loadConfig({ NODE_ENV: 'production' }), operatorKey: OPERATOR_KEY },
    logger: createLogger('silent'),
  });
}

/** One POST to `app` through yoga.fetch (no port): the whole answer, unchecked. */
export async function postTo(
  app: App,
  key: string | null,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GqlResult> {
  const res = await app.yoga.fetch('http://tally.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { ...((await res.json()) as object), status: res.status };
}

/** One POST over real HTTP to a server's base (http://127.0.0.1:port): the whole answer, unchecked. */
export async function postOver(
  base: string,
  key: string | null,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GqlResult> {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { ...((await res.json()) as object), status: res.status };
}

/** postOver that fails the test on any GraphQL error and answers the data. */
export async function okOver(base: string, key: string | null, query: string, variables?: Record<string, unknown>) {
  const body = await postOver(base, key, query, variables);
  if (body.errors?.length) throw new Error(`unexpected GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}
