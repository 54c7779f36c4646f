// The Temporal Web UI, as `npm start` wires it (--ui-codec-endpoint at the
// API's codec address for the UI), shows a flow's payloads decoded, while
// Temporal holds them encrypted.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { startTemporalDevServer, TemporalDevHandle } from '../src/dev/temporal';
import { codecUiEndpoint } from '../src/api/codec';
import { ENCRYPTED_ENCODING } from '../src/shared/codec';
import { startService, TestService } from './support/service';
import { freePort } from './support/ports';
import { launchBrowser } from './support/browser';
import { uniqueEmail, waitForEmail } from './support/mailbox';

let temporal: TemporalDevHandle;
let service: TestService;
let browser: Browser;
let dataDir: string;
let uiPort: number;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-codec-ui-'));
  const [apiPort, temporalPort] = await Promise.all([freePort(), freePort()]);
  uiPort = await freePort();
  const publicUrl = `http://localhost:${apiPort}`;
  // The UI's own dev server (the suite's runs headless), pointed at the API that is about to listen.
  temporal = await startTemporalDevServer({
    dataDir,
    port: temporalPort,
    uiPort,
    namespace: 'default',
    codecEndpoint: codecUiEndpoint({ publicUrl, adminToken: process.env.ADMIN_TOKEN }),
  });
  service = await startService({ PORT: String(apiPort), PUBLIC_URL: publicUrl, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_UI_PORT: String(uiPort) });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  await temporal?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('shows a trial\'s input decoded through the codec endpoint', async () => {
  const email = uniqueEmail('codec-ui').toLowerCase();
  const res = await fetch(`${service.baseUrl}/api/trial/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: email }) });
  expect(res.status).toBe(202);
  await waitForEmail(email, /Verify your email/);
  const workflowId = `trial/${email}`;
  const { runId } = await service.temporal.workflow.getHandle(workflowId).describe();

  const page = await browser.newPage();
  const codecAnswers: number[] = [];
  page.on('response', (r) => {
    if (r.url().startsWith(`${service.baseUrl}/codec/`)) codecAnswers.push(r.status());
  });
  await page.goto(`http://localhost:${uiPort}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/history`);
  // The Input panel shows the workflow's first argument as the UI decoded it: a field that exists only inside the encrypted payload.
  await page.getByText('"verificationTtlMs"').first().waitFor({ timeout: 30_000 });
  const text = await page.locator('body').innerText();
  expect(text).toContain(`"email": "${email}"`);
  expect(text).not.toContain(ENCRYPTED_ENCODING);
  expect(codecAnswers.length).toBeGreaterThan(0);
  expect(codecAnswers.every((s) => s === 200)).toBe(true);
  await page.close();
}, 60_000);
