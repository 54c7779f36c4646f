// Every recorded history replays with today's workflow bundle, every flow has
// histories recorded by today's code (the guard), and each patch is shown to
// be needed: without it, the histories recorded before its change fail.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { createTimeSkippingEnv } from './support/timeSkipping';
import { allHistories, checksumOf, flowChecksum, FLOWS, HISTORY_DIR, readManifest, recording, replayFailures, SHARED_WORKFLOW_FILES, unrecordedFlows } from './support/histories';
import { recordBillingHistories } from './billing/record';
import { workflowBundle } from '../src/bundle';
import { recordInvitationHistories } from './invitations/record';
import { recordTrialHistories } from './trial/record';

/** Histories of a version whose change went out without a patch: they must NOT replay, and the deploy gate says so. */
const UNPATCHED = /\/unpatched-/;

/** The paths every flow must have a history of, recorded by today's code. */
const REQUIRED: Record<string, string[]> = {
  billing: ['first-login', 'returning-login', 'expired', 'second-mail', 'different-email', 'used-link', 'server-login', 'confirmation-limit', 'login-during-confirmation', 'login-at-expiry'],
  invitation: ['new-account', 'email-validation', 'email-validation-retried', 'existing-account', 'revoked', 'expired', 'refused', 'existing-account-notice', 'resent', 'account-notice', 'ended-without-expiry'],
  trial: ['unverified', 'account-created', 'expired', 'extended-converted', 'welcome-back', 'welcome-back-while-running', 'password-reset', 'password-reset-lapsed', 'legacy-welcome-back', 'legacy-password-reset'],
};

describe('recorded workflow histories', () => {
  if (recording) {
    // One test per flow: `npm run record-histories -- -t <flow>` records only the flow whose code changed.
    it.each([
      ['billing', recordBillingHistories],
      ['invitation', recordInvitationHistories],
      ['trial', recordTrialHistories],
    ])('records the %s flow\'s paths with today\'s code', async (_flow, record) => {
      await record();
    }, 900_000);
  }

  // Read when each test runs: in recording mode, after the paths were recorded.
  let histories: ReturnType<typeof allHistories>;
  let manifest: ReturnType<typeof readManifest>;
  beforeEach(() => {
    histories = allHistories();
    manifest = readManifest();
  });

  it('replays every history with the service\'s workflow bundle', async () => {
    const replayable = histories.filter((h) => !UNPATCHED.test(h.file));
    expect(replayable.length).toBeGreaterThan(30);
    expect(await replayFailures(replayable)).toEqual([]);
  });

  it('replays every history with the traced bundle too: spans inside the workflows change no command', async () => {
    const replayable = histories.filter((h) => !UNPATCHED.test(h.file));
    expect(await replayFailures(replayable, await workflowBundle({ tracing: true }))).toEqual([]);
  });

  it('detects the runs of a version whose change was not patched as incompatible', async () => {
    const unpatched = histories.filter((h) => UNPATCHED.test(h.file));
    expect(unpatched.length).toBeGreaterThan(0);
    const failures = await replayFailures(unpatched);
    expect(failures).toHaveLength(unpatched.length);
    for (const failure of failures) expect(failure).toMatch(/nondeterminism/i);
  });

  // No code starts these types any more (the trial's own workflow sends welcome-back, passwordResetWorkflow the reset
  // mail); they stay registered for the runs versions before that started, and these histories are such runs.
  it('replays runs of the trial types no longer started, which is what keeps them registered', async () => {
    const typeOf = (history: unknown) => (history as { events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] }).events[0].workflowExecutionStartedEventAttributes?.workflowType?.name;
    const legacy = histories.filter((h) => ['trialWelcomeBackWorkflow', 'trialPasswordResetWorkflow'].includes(typeOf(h.history) ?? ''));
    expect(legacy.map((h) => `${typeOf(h.history)} ${h.file}`).filter((l) => !l.includes('/recorded-')).sort()).toEqual([
      `trialPasswordResetWorkflow ${path.join('trial', 'legacy-password-reset.json')}`,
      `trialWelcomeBackWorkflow ${path.join('trial', 'legacy-welcome-back.json')}`,
    ]);
    expect(await replayFailures(legacy)).toEqual([]);
  });

  it('knows which workflow code recorded each history', () => {
    expect(Object.keys(manifest).sort()).toEqual(histories.map((h) => h.file.split(path.sep).join('/')));
  });

  it('has histories recorded by today\'s code of every flow, for each of its paths (the guard)', () => {
    const checksums = Object.fromEntries(FLOWS.map((flow) => [flow, flowChecksum(flow)]));
    // A failure here means a flow's workflow code changed: run `npm run record-histories` (it keeps the old ones).
    expect(unrecordedFlows(manifest, checksums)).toEqual([]);
    for (const flow of FLOWS) {
      const current = Object.entries(manifest).filter(([file, m]) => file.startsWith(`${flow}/`) && m.recordedWith === checksums[flow]).map(([file]) => path.basename(file, '.json'));
      expect({ flow, missing: REQUIRED[flow].filter((p) => !current.includes(p)) }).toEqual({ flow, missing: [] });
    }
  });

  it('counts every source module of the workflow bundles as workflow code', async () => {
    const modules = new Set<string>();
    for (const bundle of [await workflowBundle(), await workflowBundle({ tracing: true })]) {
      const code = 'codePath' in bundle ? fs.readFileSync(bundle.codePath, 'utf8') : bundle.code;
      // webpack names each module it holds by its path: ./src/….ts, or ./dist/src/….js for the built bundle.
      for (const [, file] of code.matchAll(/\/\*{3}\/ "\.\/(?:dist\/)?(src\/[^"]+)\.[jt]s"/g)) modules.add(file);
    }
    expect(modules.size).toBeGreaterThan(10);
    const covered = (file: string) => file.startsWith('src/workflows/') || SHARED_WORKFLOW_FILES.includes(`${file}.ts`);
    expect([...modules].filter((m) => !covered(m))).toEqual([]);
  });

  it.each([
    ['billing-email-search-attribute', 'billing/before-email-search-attribute'],
    ['billing-confirm-login-waits', 'billing/before-confirm-login-waits'],
    ['invitation-resend-within-daily-caps', 'invitation/before-invitation-resend-within-daily-caps'],
    ['invitation-ends-without-expiry', 'invitation/before-ends-without-expiry'],
  ])('needs the patch %s: without it, the histories recorded before its change fail', async (patch, folder) => {
    const before = histories.filter((h) => h.file.startsWith(folder));
    expect(before.length).toBeGreaterThan(0);
    expect(await replayFailures(before)).toEqual([]);
    const withoutPatch = await bundleWithout(patch);
    const failures = await replayFailures(before, withoutPatch);
    expect(failures).toHaveLength(before.length);
    for (const failure of failures) expect(failure).toMatch(/nondeterminism/i);
  }, 120_000);
});

/** Every patch id the workflow code asks `patched()` about. */
function patchIds(): string[] {
  const dir = path.resolve(__dirname, '..', 'src', 'workflows');
  const ids = new Set<string>();
  for (const file of fs.readdirSync(dir, { recursive: true }) as string[]) {
    if (!file.endsWith('.ts')) continue;
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const [, constant, id] of text.matchAll(/const (\w+) = '([a-z0-9-]+)';/g)) if (text.includes(`patched(${constant})`)) ids.add(id);
  }
  return [...ids].sort();
}

describe('every patch', () => {
  const ids = patchIds();
  it('is found in the workflow code', () => {
    expect(ids.length).toBeGreaterThanOrEqual(8);
  });

  // A patch no history needs could be removed unnoticed, breaking the runs it was written for.
  it.each(ids)('%s: some recorded history replays with it and fails without it', async (patch) => {
    const replayable = allHistories().filter((h) => !UNPATCHED.test(h.file));
    const failures = await replayFailures(replayable, await bundleWithout(patch));
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) expect(failure).toMatch(/nondeterminism/i);
  }, 120_000);
});

const bundlesWithout = new Map<string, ReturnType<typeof bundleWithoutPatch>>();
/** Today's workflow code with one patch taken out (its new branch always taken), bundled once per patch. */
function bundleWithout(patch: string) {
  if (!bundlesWithout.has(patch)) bundlesWithout.set(patch, bundleWithoutPatch(patch));
  return bundlesWithout.get(patch)!;
}

async function bundleWithoutPatch(patch: string) {
  const root = path.resolve(__dirname, '..');
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-unpatched-'));
  for (const dir of ['src/workflows', 'src/shared', 'src/activities', 'src/domain', 'src/generated']) fs.cpSync(path.join(root, dir), path.join(copy, dir), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  let found = false;
  for (const file of fs.readdirSync(path.join(copy, 'src/workflows'), { recursive: true }) as string[]) {
    const full = path.join(copy, 'src/workflows', file);
    if (!full.endsWith('.ts')) continue;
    const text = fs.readFileSync(full, 'utf8');
    const constant = new RegExp(`const (\\w+) = '${patch}';`).exec(text)?.[1];
    if (!constant) continue;
    fs.writeFileSync(full, text.replace(new RegExp(`patched\\(${constant}\\)`, 'g'), 'true'));
    found = true;
  }
  expect(found).toBe(true);
  try {
    const noop = () => undefined;
    return await bundleWorkflowCode({ workflowsPath: path.join(copy, 'src/workflows/index.ts'), logger: { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop } });
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
}

describe('the guard, on a deliberately unpatched change', () => {
  const GUARD = path.resolve(__dirname, 'fixtures', 'guard');
  const checksum = (version: string) => checksumOf(GUARD, [path.join(GUARD, version, 'workflows.ts')]);
  const HISTORY = path.join(GUARD, 'v1-history.json');

  if (recording) {
    it('records v1', async () => {
      const env = await createTimeSkippingEnv();
      try {
        const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'guard', workflowsPath: path.join(GUARD, 'v1', 'workflows.ts'), activities: { greet: async (name: string) => `Hello ${name}` } });
        const result = await worker.runUntil(async () => {
          const handle = await env.client.workflow.start('greetingWorkflow', { taskQueue: 'guard', workflowId: 'guard-v1', args: ['Ada'] });
          await handle.result();
          return handle.fetchHistory();
        });
        fs.writeFileSync(HISTORY, JSON.stringify(result, null, 1) + '\n');
        fs.writeFileSync(path.join(GUARD, 'manifest.json'), JSON.stringify({ 'v1-history.json': { recordedWith: checksum('v1') } }, null, 1) + '\n');
      } finally {
        await env.teardown();
      }
    });
  }

  it('flags the changed code as unrecorded, and its replay of v1\'s history fails', async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(GUARD, 'manifest.json'), 'utf8'));
    expect(unrecordedFlows(manifest, { greeting: checksum('v1') })).toEqual([]);
    expect(unrecordedFlows(manifest, { greeting: checksum('v2') })).toEqual(['greeting']);
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(HISTORY, 'utf8')));
    const replay = (version: string) => Worker.runReplayHistory({ workflowsPath: path.join(GUARD, version, 'workflows.ts') }, history).then(() => 'ok', (err: Error) => err.name);
    expect(await replay('v1')).toBe('ok');
    expect(await replay('v2')).toBe('DeterminismViolationError');
  }, 60_000);
});

describe('the histories folder', () => {
  it('holds only flows\' histories and the manifest', () => {
    expect(fs.readdirSync(HISTORY_DIR).sort()).toEqual([...FLOWS, 'README.md', 'manifest.json'].sort());
  });
});
