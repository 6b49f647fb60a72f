// The signed-in key: session storage only (gone with the tab, never in a URL), and the typed
// client made from it.
import { createTallyClient, documents, graphql, type ResultOf, type TallyClient } from '@tally/client';

const ViewerQuery = graphql(
  `query DashboardViewer { viewer { isOperator subject apiKey { ...ApiKeyFields } tenant { ...TenantFields } } }`,
  [documents.ApiKeyFields, documents.TenantFields],
);

const STORE = 'tally.key';
export type Viewer = ResultOf<typeof ViewerQuery>['viewer'];

export interface Session {
  client: TallyClient;
  /** For the CSV export (a plain GET with the same Authorization header). */
  key: string;
  viewer: Viewer;
  timeZone: string;
  currency: string;
  isAdmin: boolean;
  /** A subject token's subject (it reads only that subject). */
  subject: string | null;
}

export const storedKey = () => sessionStorage.getItem(STORE);

export async function signIn(key: string): Promise<Session> {
  const client = createTallyClient({ url: `${location.origin}/graphql`, apiKey: key.trim() });
  try {
    const { viewer } = await client.request(ViewerQuery);
    sessionStorage.setItem(STORE, key.trim());
    return {
      client,
      key: key.trim(),
      viewer,
      timeZone: viewer.tenant?.timezone ?? 'UTC',
      currency: viewer.tenant?.currency ?? 'USD',
      isAdmin: viewer.isOperator || (viewer.apiKey?.scopes ?? []).includes('ADMIN'),
      subject: viewer.subject ?? null,
    };
  } catch (e) {
    await client.close();
    throw e;
  }
}

export async function signOut(s: Session | null) {
  sessionStorage.removeItem(STORE);
  await s?.client.close();
}

/** Downloads a CSV export (`/export/…csv`) of what the filters show, as a file. */
export async function downloadCsv(s: Session, path: string, params: Record<string, string>) {
  const res = await fetch(`${path}?${new URLSearchParams(params)}`, { headers: { authorization: `Bearer ${s.key}` } });
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { errors?: { message: string }[] } | null;
    throw new Error(body?.errors?.[0]?.message ?? `export failed: HTTP ${res.status}`);
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'export.csv';
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
