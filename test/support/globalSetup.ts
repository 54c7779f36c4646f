import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { startEmbeddedStack, Stack } from '../../src/dev/stack';
import { migrateDatabase } from '../../src/deps';
import { writeWorkflowBundle } from '../../src/bundle';
import { freePort } from './ports';

/**
 * Starts the real servers the suite talks to, once: PostgreSQL, a Temporal
 * dev server and a MailDev inbox, on free ports in a throw-away data
 * directory. Test files inherit their addresses through the environment.
 */
export default async function globalSetup(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-test-'));
  fs.chmodSync(dataDir, 0o755); // PostgreSQL runs as its own user when tests run as root
  const env = {
    DATA_DIR: dataDir,
    EMBEDDED_PG_PORT: String(await freePort()),
    TEMPORAL_PORT: String(await freePort()),
    MAIL_SMTP_PORT: String(await freePort()),
    MAIL_UI_PORT: String(await freePort()),
    TOKEN_SECRET: 'test-secret-0123456789abcdef0123456789abcdef',
    ADMIN_TOKEN: 'test-admin-token-0123456789abcdef',
    // Two keys, as during a rotation: the newer encrypts, both decrypt.
    PAYLOAD_KEYS: `test-1:${Buffer.alloc(32, 1).toString('base64')},test-2:${Buffer.alloc(32, 2).toString('base64')}`,
    PAYLOAD_KEY_ID: 'test-2',
    LOG_LEVEL: 'warn',
  };
  Object.assign(process.env, env);
  // gRPC's own diagnostics (e.g. keepalive adjustments on long tests) would go to the console; failures still throw.
  process.env.GRPC_VERBOSITY = 'NONE';
  delete process.env.DATABASE_URL;
  delete process.env.TEMPORAL_ADDRESS;
  delete process.env.SMTP_URL;
  // The suite's Temporal is its own dev server: no temporal.toml or TEMPORAL_* setting of the machine's user may steer it.
  for (const key of Object.keys(process.env)) if (/^TEMPORAL_(TLS|API_KEY|PROFILE|GRPC_META)/.test(key)) delete process.env[key];
  process.env.TEMPORAL_CONFIG_FILE = path.join(dataDir, 'no-temporal.toml');
  // One workflow bundle for every worker and replay of the run, as in production.
  const bundle = path.join(dataDir, 'workflow-bundle.js');
  const [stack] = await Promise.all([startEmbeddedStack(loadConfig(), { temporalUi: false }) as Promise<Stack>, writeWorkflowBundle(bundle)]);
  process.env.WORKFLOW_BUNDLE = bundle;
  await migrateDatabase(stack.databaseUrl);
  process.env.DATABASE_URL = stack.databaseUrl;
  process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
  process.env.SMTP_URL = stack.smtpUrl;
  process.env.MAIL_INBOX_URL = stack.mailInboxUrl;
  (globalThis as { __flowgateStack?: Stack }).__flowgateStack = stack;
  (globalThis as { __flowgateDataDir?: string }).__flowgateDataDir = dataDir;
}
