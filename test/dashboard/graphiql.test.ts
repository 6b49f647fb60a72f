// GraphiQL at /graphql in a real Chromium with every other host blocked: it loads from Tally's
// own assets, opens without an error before a key is set, and runs a query once one is.
import { describe, expect, it } from 'vitest';
import { plannedTenant, server, useClientServer } from '../client/kit';
import { useBrowser } from '../support/browser';

useClientServer('dash_graphiql');
const kit = useBrowser(() => `http://127.0.0.1:${server.port}`);

describe('GraphiQL, self-hosted', () => {
  it('opens offline with the key hint and the header to complete, then runs a query with a key', async () => {
    const t = await plannedTenant('graphiql-co');
    const page = await kit.page();
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    const res = await page.goto(`http://127.0.0.1:${server.port}/graphql`, { accept: 'text/html' } as never);
    expect(res?.status()).toBe(200);
    // The first tab tells where the key comes from; the headers editor waits for one.
    await page.getByText('Every request needs a key').first().waitFor({ timeout: 30_000 });
    await page.getByText('"Bearer "').first().waitFor();
    // Introspection without a key succeeded: the docs explorer knows the schema, no error shown.
    await page.getByLabel(/Show Documentation Explorer/i).click();
    await page.getByText('Query', { exact: true }).first().waitFor();
    expect(await page.getByText(/Unauthenticated|UNAUTHENTICATED|Error fetching schema/).count()).toBe(0);
    await kit.screenshot(page, 'graphiql');

    // Set the key in the headers editor and run the hint's query.
    const headers = page.locator('.monaco-editor[data-uri$="-headers.json"] .view-lines');
    await headers.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(`{"Authorization": "Bearer ${t.adminKey}"}`);
    await page
      .getByLabel(/Execute query/i)
      .first()
      .click();
    await page.getByText('graphiql-co').first().waitFor({ timeout: 15_000 });
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, as Monaco lays it out
    const result = (await page.locator('.result-window').innerText()).replace(/\s+/g, ' ');
    expect(result).toContain('"isOperator": false, "subject": null');
    expect(failed).toEqual([]);
  });
});
