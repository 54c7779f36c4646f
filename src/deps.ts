import { Connection, Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import nodemailer from 'nodemailer';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Config, ConfigError, redact } from './config';
import { createDb, Db } from './shared/db';
import { Mailer } from './shared/mail';
import { PublicKeySigner, TokenSigner } from './shared/tokens';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { ALL_SEARCH_ATTRIBUTES } from './shared/searchAttributes';
import { asTarget, connectionError, connectionOptions, TemporalTarget } from './temporalEnv';

/** What activities and routes are built from. */
export interface Deps {
  config: Config;
  db: Db;
  mailer: Mailer;
  signer: TokenSigner;
  /** Signs the trial's embed tokens; their public keys are published at /.well-known/jwks.json. */
  embedSigner: PublicKeySigner;
}

/** What the API's routes are built from: the shared dependencies and a Temporal client. */
export interface ApiDeps extends Deps {
  temporal: Client;
}

const PROJECT_ROOT = path.resolve(__dirname, '..');

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000}s`)), ms))),
  ]);
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

export async function connectDb(databaseUrl: string): Promise<Db> {
  const db = createDb(databaseUrl);
  try {
    await withTimeout(db.$queryRaw`SELECT 1`, 8000, 'PostgreSQL');
  } catch (err) {
    await db.$disconnect().catch(() => undefined);
    throw new ConfigError('DATABASE_URL', `cannot connect to ${redact(databaseUrl)} (${firstLine(err)})`);
  }
  return db;
}

/**
 * A client of `target` (an address, or the TLS and API key settings of
 * temporalEnv.ts), checked by describing the namespace. Clients that start or
 * talk to flows pass `payloadDataConverter(config.payloadKeys)`.
 */
export async function connectTemporal(to: string | TemporalTarget, namespace: string, dataConverter?: DataConverter): Promise<Client> {
  const target = asTarget(to);
  const { address } = target;
  let connection: Connection;
  try {
    connection = await withTimeout(Connection.connect({ ...connectionOptions(target), connectTimeout: '3s' }), 5000, 'Temporal');
  } catch (err) {
    throw await connectionError(err, target);
  }
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (err) {
    await connection.close();
    throw new ConfigError('TEMPORAL_NAMESPACE', `namespace "${namespace}" is not usable at ${address} (${firstLine(err)})`);
  }
  // Updates and starts carry the caller's trace context to the workflow (a no-op while tracing is off).
  return new Client({ connection, namespace, dataConverter, interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } });
}

export async function checkSmtp(smtpUrl: string): Promise<void> {
  const transport = nodemailer.createTransport(smtpUrl);
  try {
    await withTimeout(transport.verify(), 8000, 'SMTP');
  } catch (err) {
    throw new ConfigError('SMTP_URL', `cannot reach the mail server at ${redact(smtpUrl)} (${firstLine(err)})`);
  } finally {
    transport.close();
  }
}

/** Applies pending Prisma migrations (`prisma migrate deploy`). */
export function migrateDatabase(databaseUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'scripts', 'prisma.mjs'), 'migrate', 'deploy'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new ConfigError('DATABASE_URL', `migrations failed: ${output.trim().split('\n').slice(-3).join(' ')}`)),
    );
  });
}

/** Registers the flows' search attributes where they are missing (a no-op on the dev server, which gets them at start). */
export async function registerSearchAttributes(connection: Pick<Connection, "operatorService">, namespace: string): Promise<void> {
  const operator = connection.operatorService;
  const missing = async () => {
    // Temporal's time-skipping test server cannot list search attributes (UNIMPLEMENTED) but can add them.
    const existing = await operator.listSearchAttributes({ namespace }).catch((err: { code?: number }) => {
      if (err?.code === 12) return { customAttributes: {} };
      throw err;
    });
    return ALL_SEARCH_ATTRIBUTES.filter((key) => !(key.name in (existing.customAttributes ?? {})));
  };
  const toAdd = await missing();
  if (toAdd.length === 0) return;
  try {
    await operator.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(toAdd.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]])),
    });
  } catch (err) {
    // Workers started together race to add them; the loser finds them added.
    if ((await missing()).length > 0) throw err;
  }
}

export function createDeps(config: Config, db: Db, smtpUrl: string): Deps {
  return {
    config,
    db,
    mailer: new Mailer(smtpUrl, config.mailFrom, config.publicUrl, db),
    signer: new TokenSigner(config.tokenSecret, config.tokenSecretPrevious),
    embedSigner: new PublicKeySigner('trial-embed', config.tokenSecret, config.tokenSecretPrevious),
  };
}
