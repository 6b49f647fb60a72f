// A real Chromium for the dashboard's tests: the binary @sparticuz/chromium ships (unpacked
// into /tmp on first use, no download at test time), driven by playwright-core. One browser
// per test file; every request to a host other than the test server's is aborted, recorded,
// and fails the file. Screenshots go to test-output/screens/ (git-ignored).
import { mkdir } from 'node:fs/promises';
import chromium from '@sparticuz/chromium';
import { type Browser, type BrowserContext, type Page, chromium as playwright } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';

export const SCREENS = 'test-output/screens';

export interface BrowserKit {
  browser: Browser;
  context: BrowserContext;
  /** Requests to any other host, aborted: must stay empty. */
  blocked: string[];
  /** A new page in the file's context. */
  page(): Promise<Page>;
  screenshot(page: Page, name: string): Promise<string>;
}

/** Launches Chromium for this file; `origin()` is the test server's origin (read after it listens). */
export function useBrowser(origin: () => string): BrowserKit {
  const kit = { blocked: [] as string[] } as BrowserKit;
  beforeAll(async () => {
    kit.browser = await playwright.launch({
      executablePath: await chromium.executablePath(),
      // --single-process is for Lambda; on a normal machine it makes Chromium crash on close.
      args: chromium.args.filter((a) => a !== '--single-process'),
      headless: true,
    });
    kit.context = await kit.browser.newContext({
      viewport: { width: 1280, height: 860 },
      acceptDownloads: true,
      // Chromium takes its locale from LANG; a POSIX one (en-US@posix) is no valid BCP 47 tag.
      locale: 'en-US',
      // Far from the tenants' zones: the dashboard must show dates in the tenant's zone, not the browser's.
      timezoneId: 'Pacific/Auckland',
    });
    const allowed = new URL(origin()).host;
    await kit.context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.host === allowed || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
      kit.blocked.push(url.href);
      return route.abort('blockedbyclient');
    });
    kit.page = async () => {
      const p = await kit.context.newPage();
      p.on('websocket', (ws) => {
        if (new URL(ws.url()).host !== allowed) kit.blocked.push(ws.url());
      });
      return p;
    };
    kit.screenshot = async (page, name) => {
      await mkdir(SCREENS, { recursive: true });
      const path = `${SCREENS}/${name}.png`;
      await page.screenshot({ path });
      return path;
    };
  });
  afterAll(async () => {
    await kit.browser?.close();
    // Everything the pages load comes from Tally itself: no CDN, no font host, no telemetry.
    expect(kit.blocked, 'requests to other hosts').toEqual([]);
  });
  return kit;
}
