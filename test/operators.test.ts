// What an operator sees in the Temporal Web UI of the `npm start` stack: a
// trial, an invitation and a billing login each show their summary, their
// current details (the step, what it waits for and until when, the operator
// updates) and their named timers. The screenshots in docs/operators.md are
// taken here (SCREENSHOTS=docs to write them there). Last, the deploy gate
// (`npm run replay`) replays the stack's executions, as an operator runs it
// before a deploy.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Browser } from 'playwright-core';
import { launchBrowser } from './support/browser';
import { runEntry, startEnv, waitForStatus } from './support/npmStart';
import { linkIn, uniqueEmail, waitForEmail } from './support/mailbox';
import { apiClient, signUp } from './invitations/helpers';
import { billingAccessUrl, newUser, registerDemoServer } from './billing/helpers';
import { trialWorkflowId } from '../src/workflows/trial/messages';
import { invitationWorkflowId } from '../src/workflows/invitation/messages';
import { billingLoginWorkflowId } from '../src/workflows/billing/messages';
import { resolveTemporalCli } from '../src/dev/temporal';
import { parsePayloadKeys, PayloadKeys, payloadDataConverter } from '../src/shared/codec';

const SHOTS = process.env.SCREENSHOTS === 'docs' ? path.resolve(__dirname, '../docs/operators') : fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-ui-'));

describe('the Temporal Web UI of the npm start stack', () => {
  let run: ReturnType<typeof runEntry>;
  let ports: Awaited<ReturnType<typeof startEnv>>['ports'];
  let stackEnv: Awaited<ReturnType<typeof startEnv>>['env'];
  let client: Client;
  let connection: Connection;
  let browser: Browser;
  let baseUrl: string;
  const inboxBefore = process.env.MAIL_INBOX_URL;
  // The stack's development secrets: payloads are encrypted, and the operator key opens the codec endpoint.
  let adminToken: string;

  beforeAll(async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-ops-'));
    fs.chmodSync(dataDir, 0o755);
    const started = await startEnv(dataDir);
    ports = started.ports;
    stackEnv = started.env;
    run = runEntry('src/main.ts', started.env, (out) => out.includes('Press Ctrl-C'), 120_000);
    await run.reached;
    baseUrl = `http://localhost:${ports.port}`;
    await waitForStatus(`${baseUrl}/readyz`, 200);
    await waitForStatus(`http://localhost:${ports.ui}/`, 200);
    // The mail helpers read the inbox of this stack.
    process.env.MAIL_INBOX_URL = `http://localhost:${ports.inbox}`;
    adminToken = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const keys = parsePayloadKeys(fs.readFileSync(path.join(dataDir, 'payload-keys'), 'utf8').trim(), undefined) as PayloadKeys;
    connection = await Connection.connect({ address: `localhost:${ports.temporal}` });
    client = new Client({ connection, dataConverter: payloadDataConverter(keys) });
    browser = await launchBrowser();
    fs.mkdirSync(SHOTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    process.env.MAIL_INBOX_URL = inboxBefore;
    await browser?.close();
    await connection?.close().catch(() => undefined);
    if (run && run.child.exitCode === null && run.child.signalCode === null) {
      process.kill(-run.child.pid!, 'SIGINT');
      await run.exited;
    }
  });

  /** The `temporal` CLI against the stack's server, as the README shows it. */
  async function temporal(...args: string[]): Promise<string> {
    const codec = ['--codec-endpoint', `${baseUrl}/codec`, '--codec-auth', `Bearer ${adminToken}`];
    const { stdout } = await promisify(execFile)(resolveTemporalCli()!, [...args, '--address', `localhost:${ports.temporal}`, ...codec]);
    return stdout;
  }

  /** Workflow IDs the CLI lists for a query. */
  async function listed(query: string): Promise<string[]> {
    const out = await temporal('workflow', 'list', '--query', query, '--output', 'json');
    return (JSON.parse(out || '[]') as { execution: { workflowId: string } }[]).map((w) => w.execution.workflowId);
  }

  /**
   * The workflow's page in the UI: its summary and current details under
   * "User Metadata", its named timers on the timeline; a screenshot of each.
   */
  async function expectStory(name: string, workflowId: string, story: { summary?: string; details: string[]; timers: string[]; send?: { update: string; data: string } }): Promise<void> {
    const { runId } = await client.workflow.getHandle(workflowId).describe();
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await page.goto(`http://localhost:${ports.ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/history`);
      await page.getByRole('tab', { name: 'User Metadata' }).click();
      // The UI renders each Markdown field in a frame of its own.
      if (story.summary) await page.frameLocator('#user-metadata-summary').getByText(story.summary).waitFor({ timeout: 30_000 });
      for (const text of story.details) await page.frameLocator('#user-metadata-current-details').getByText(text).first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
      await page.getByRole('tab', { name: 'Timeline' }).click();
      for (const timer of story.timers) await page.getByText(timer, { exact: true }).first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: path.join(SHOTS, `${name}-timeline.png`) });
      // Operator updates are sent from the workflow's actions.
      await page.getByRole('button', { name: 'More Actions' }).click();
      await page.locator('text=Send an Update >> visible=true').first().click();
      const dialog = page.locator('#update-confirmation-modal');
      const chooser = dialog.getByRole('button', { name: 'Select an Update' });
      await chooser.waitFor();
      if (story.send) {
        // The names on offer are the workflow's update handlers, each with its description.
        await chooser.click();
        await dialog.getByRole('option').filter({ hasText: story.send.update }).click();
        await dialog.getByRole('textbox', { name: 'Data' }).click();
        await page.keyboard.type(story.send.data);
      }
      await page.screenshot({ path: path.join(SHOTS, `${name}-update.png`) });
      if (story.send) {
        await dialog.getByRole('button', { name: 'Submit' }).click();
        // The UI closes the dialog once the server has accepted the update; closing the page sooner drops the request.
        await page.getByRole('dialog', { name: 'Send an Update' }).waitFor({ state: 'hidden', timeout: 30_000 });
      }
    } finally {
      await page.close();
    }
  }

  it('tells a trial waiting for its verification', async () => {
    const email = uniqueEmail('ui-trial');
    const api = apiClient(baseUrl);
    expect((await api('POST', '/api/trial/register', { username: email, firstname: 'Ada', lastname: 'Lovelace', company: 'Analytical Engines' })).status).toBe(202);
    await expectStory('trial', trialWorkflowId(email), {
      summary: `Trial for ${email}`,
      details: ['Waiting for the email address to be verified', `Waiting for ${email} to open the verification link.`, 'endTrial'],
      timers: ['verification link expires'],
    });

    // "What expires soon" is one query: this sign-up's link expires in a week, not within the hour.
    const week = new Date(Date.now() + 8 * 86_400_000).toISOString();
    const hour = new Date(Date.now() + 3_600_000).toISOString();
    expect(await listed(`FlowKind = "trial" AND ExpiresAt < "${week}"`)).toContain(trialWorkflowId(email));
    expect(await listed(`FlowKind = "trial" AND ExpiresAt < "${hour}"`)).not.toContain(trialWorkflowId(email));

    // An operator ends it from the CLI, as from the UI's "Send an Update".
    const answer = await temporal('workflow', 'update', 'execute', '--workflow-id', trialWorkflowId(email), '--name', 'endTrial', '--input', '{"reason": "a test sign-up"}');
    expect(answer).toContain('ends unverified');
    expect(await client.workflow.getHandle(trialWorkflowId(email)).result()).toBe('unverified');
  });

  it('tells a running trial: its reminder and its end, found by TrialEndsAt', async () => {
    const email = uniqueEmail('ui-running');
    const api = apiClient(baseUrl);
    expect((await api('POST', '/api/trial/register', { username: email, firstname: 'Grace' })).status).toBe(202);
    const token = new URL(linkIn(await waitForEmail(email, /Verify your email/), `${baseUrl}/trial/register?token=`)).searchParams.get('token')!;
    const created = await api('POST', '/api/trial/creation', { token, password: 'Analytical-1843' });
    expect(created.status).toBe(201);
    const endsAt = (created.body as { trialEndsAt: string }).trialEndsAt;
    await expectStory('trial-running', trialWorkflowId(email), {
      // A trial continues in a run of its own once the account exists: that run's details tell the story.
      details: [`Trial of ${email} running`, 'extendTrial'],
      timers: ['trial reminder'],
    });
    // "Which trials end this month" is one query on TrialEndsAt.
    const after = new Date(Date.parse(endsAt) + 60_000).toISOString();
    const before = new Date(Date.parse(endsAt) - 60_000).toISOString();
    expect(await listed(`FlowKind = "trial" AND TrialEndsAt < "${after}"`)).toContain(trialWorkflowId(email));
    expect(await listed(`FlowKind = "trial" AND TrialEndsAt < "${before}"`)).not.toContain(trialWorkflowId(email));
  });

  it('tells an invitation waiting for its invitee', async () => {
    const api = apiClient(baseUrl);
    const admin = await signUp(api, baseUrl, 'ui-admin');
    const team = await api('POST', '/repo/v1/team', { name: 'Crew' }, admin.accessToken);
    const grace = uniqueEmail('ui-grace');
    const invited = await api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail: grace }, admin.accessToken);
    expect(invited.status).toBe(201);
    await expectStory('invitation', invitationWorkflowId(Number(invited.body.id)), {
      summary: `Invitation of ${grace} to team Crew by ${admin.email}`,
      details: ['Invitation mailed: waiting for the invitee', 'revokeInvitation'],
      timers: ['invitation expires'],
    });

    const revoked = await temporal('workflow', 'update', 'execute', '--workflow-id', invitationWorkflowId(Number(invited.body.id)), '--name', 'revokeInvitation', '--input', '{"by": 0}');
    expect(revoked).toMatch(/Result\s+map\[revoked:true\]/);
    expect(await client.workflow.getHandle(invitationWorkflowId(Number(invited.body.id))).result()).toBe('revoked');
    expect((await api('GET', `/repo/v1/team/${team.body.id}/openInvitation`, undefined, admin.accessToken)).body).toEqual({ results: [], totalNumberOfResults: 0 });
  });

  it('tells a billing login waiting for its email confirmation', async () => {
    const server = await registerDemoServer(baseUrl);
    const email = uniqueEmail('ui-olga');
    const user = newUser(email);
    const url = await billingAccessUrl(baseUrl, server, user);
    const form = await browser.newPage();
    await form.goto(url);
    await form.click('button[type=submit]');
    await form.getByText('Check your email').first().waitFor();
    await form.close();
    const identity = { kind: 'realm' as const, serverUuid: server.uuid, realmUuid: server.realm.uuid, userUuid: user.uuid, email };
    await expectStory('billing', billingLoginWorkflowId(identity), {
      summary: `Billing login of ${email} for ${server.realm.name}`,
      details: ['Waiting for the email address to be confirmed', `Waiting for ${email} to open the confirmation link.`, 'endLogin'],
      timers: ['confirmation link expires'],
      send: { update: 'endLogin', data: '{"reason": "asked by the customer"}' },
    });
    // Sent from the UI: the login ends, and its confirmation link with it.
    expect(await client.workflow.getHandle(billingLoginWorkflowId(identity)).result()).toEqual({ outcome: 'expired', billingUserId: null });
  });

  it('passes the deploy gate: npm run replay replays the stack\'s executions, encrypted with its keys, with today\'s code', async () => {
    // As `npm run replay` in a checkout that runs `npm start`: no TEMPORAL_ADDRESS (the stack's dev server), its data directory's keys.
    // Against the suite's bundle of today's workflow code (WORKFLOW_BUNDLE), as a deploy names the bundle it ships.
    const gate = runEntry('scripts/replay.ts', { ...stackEnv, TEMPORAL_NAMESPACE: undefined, TEMPORAL_TASK_QUEUE: undefined });
    const { code, output } = await gate.exited;
    expect(output).toMatch(/^replay: [1-9]\d* executions of task queue flows since 7d \(running ones included\) against \S+workflow-bundle\.js, 0 would fail\n$/);
    // This file's flows at least: the trial, the invitation and its admin's sign-up, the billing login.
    expect(Number(/replay: (\d+)/.exec(output)![1])).toBeGreaterThanOrEqual(4);
    expect(code).toBe(0);
  }, 60_000);

  it('stops on Ctrl-C within 5 s after the flows above, in order', async () => {
    await connection.close();
    const signalled = Date.now();
    // Ctrl-C in a terminal: SIGINT to the whole foreground process group.
    process.kill(-run.child.pid!, 'SIGINT');
    const result = await run.exited;
    expect(Date.now() - signalled).toBeLessThan(5000);
    expect(result.code).toBe(0);
    const order = ['stopping the API', 'stopping the worker', 'stopping the Temporal dev server', 'stopping PostgreSQL', 'flowgate stopped'];
    const at = order.map((line) => result.output.indexOf(line));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});
