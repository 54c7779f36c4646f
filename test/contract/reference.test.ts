// The rendered API reference: Swagger UI shows every operation of the
// document in Chromium under the page's own Content-Security-Policy, with no
// error; the flows' pages keep theirs. `npm run reference:screenshot` keeps
// the picture of it in docs/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Router from '@koa/router';
import type { Browser } from 'playwright-core';
import { createApp } from '../../src/api/app';
import { CONTRACTS } from '../../src/api/openapi';
import { REFERENCE_CSP } from '../../src/api/reference';
import { ConfigError, loadConfig } from '../../src/config';
import { launchBrowser } from '../support/browser';
import { startService, TestService } from '../support/service';

let service: TestService;
let browser: Browser;
beforeAll(async () => {
  [service, browser] = await Promise.all([startService(), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await service?.stop();
});

const routes = CONTRACTS.flatMap(({ operations }) => Object.keys(operations));

describe('the API reference', () => {
  it('shows every documented operation in Chromium, under its own policy, without errors', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    page.on('pageerror', (err) => problems.push(err.message));
    try {
      const res = await page.goto(`${service.baseUrl}/reference`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toBe(REFERENCE_CSP);
      await page.locator('.opblock').nth(routes.length - 1).waitFor();
      expect(await page.locator('.opblock').count()).toBe(routes.length);
      const paths = await page.locator('.opblock-summary-path').allTextContents();
      for (const route of routes) expect(paths.map((p) => p.replace(/\u200b/g, ''))).toContain(route.split(' ')[1].replace(/:([A-Za-z0-9_]+)/g, '{$1}'));

      const target = process.env.REFERENCE_SCREENSHOT ? path.resolve(process.env.REFERENCE_SCREENSHOT) : path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'reference-')), 'reference.png');
      await page.screenshot({ path: target, fullPage: true });
      expect(fs.statSync(target).size).toBeGreaterThan(20_000);

      // One operation opened: its example request and its answers by status.
      await page.click('#operations-Invitations-postRepoV1MembershipInvitation .opblock-summary-control');
      await page.waitForSelector('#operations-Invitations-postRepoV1MembershipInvitation .responses-table');
      expect(await page.locator('#operations-Invitations-postRepoV1MembershipInvitation .response-col_status').allTextContents()).toEqual(
        expect.arrayContaining(['201', '400', '401', '429']),
      );

      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("leaves the flows' pages their script-free policy", async () => {
    const res = await fetch(`${service.baseUrl}/login`);
    expect(res.status).toBe(200);
    const policy = res.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'none'");
    expect(policy).not.toContain('script-src');
  });

  it('is served in development, and in production only when API_REFERENCE=on', () => {
    const base = {
      TOKEN_SECRET: 'reference-secret-0123456789abcdef0123456',
      PAYLOAD_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
      DATA_DIR: path.join(os.tmpdir(), 'flowgate-reference-test'),
    };
    expect(loadConfig(base).apiReference).toBe(true);
    expect(loadConfig({ ...base, NODE_ENV: 'production' }).apiReference).toBe(false);
    expect(loadConfig({ ...base, NODE_ENV: 'production', API_REFERENCE: 'on' }).apiReference).toBe(true);
    expect(() => loadConfig({ ...base, API_REFERENCE: 'yes' })).toThrow(ConfigError);

    const served = (apiReference: boolean) =>
      (createApp({ ...service.deps, temporal: service.temporal, config: { ...service.config, apiReference } }).middleware as Array<{ router?: Router }>).some(({ router }) =>
        router?.stack.some((layer) => layer.path === '/reference'),
      );
    expect(served(true)).toBe(true);
    expect(served(false)).toBe(false);
  });
});
