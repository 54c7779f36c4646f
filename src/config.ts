import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import ms from 'ms';
import { loadTemporalSettings, TemporalTarget } from './temporalEnv';

/** A configuration problem, always tied to the variable that caused it. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export interface Config {
  nodeEnv: string;
  production: boolean;
  dataDir: string;
  port: number;
  publicUrl: string;
  /** Origins that links in mail may point to (portalEndpoint, acceptInvitationEndpoint). */
  allowedLinkOrigins: string[];
  databaseUrl?: string;
  temporal: {
    /** Set when Temporal is configured (TEMPORAL_ADDRESS, or a temporal.toml profile with an address). */
    address?: string;
    /** How to connect to it: TLS, API key, gRPC metadata (see temporalEnv.ts). */
    target?: TemporalTarget;
    namespace: string;
    taskQueue: string;
    cliPath?: string;
    port: number;
    uiPort: number;
  };
  embedded: { postgresPort: number; smtpPort: number; mailUiPort: number };
  smtpUrl?: string;
  mailFrom: string;
  tokenSecret: string;
  tokenSecretPrevious: string[];
  adminToken?: string;
  logLevel: string;
  ttl: {
    emailValidation: number;
    invitationLink: number;
    inviteeVerification: number;
    trialVerification: number;
    trialLength: number;
    trialReminderBefore: number;
    embedToken: number;
    billingAccessToken: number;
    billingConfirmation: number;
    billingSession: number;
  };
  termsOfServiceVersion: string;
}

type Env = Record<string, string | undefined>;

function port(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(name, `"${raw}" is not a TCP port (0-65535)`);
  return n;
}

/** Durations are written the way people write them: 30m, 24h, 7d. */
function duration(env: Env, name: string, fallback: string): number {
  const raw = env[name] || fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : ms(raw as ms.StringValue);
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(name, `"${raw}" is not a duration (examples: 90s, 30m, 24h, 7d)`);
  }
  return value;
}

function url(env: Env, name: string, fallback: string, protocols: string[]): string {
  const raw = env[name] || fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `"${redact(raw)}" is not a URL`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.map((p) => p + '//').join(' or ')}`);
  }
  return raw;
}

/** Hides the password part of a URL so configuration errors never print secrets. */
export function redact(value: string): string {
  return value.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

/**
 * Development keeps one generated secret under the data directory so links
 * survive restarts; production must be given one.
 */
function tokenSecret(env: Env, dataDir: string, production: boolean): string {
  const given = env.TOKEN_SECRET;
  if (given) {
    if (given.length < 32) throw new ConfigError('TOKEN_SECRET', 'must be at least 32 characters');
    return given;
  }
  if (production) throw new ConfigError('TOKEN_SECRET', 'is required when NODE_ENV=production');
  const file = path.join(dataDir, 'token-secret');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    fs.mkdirSync(dataDir, { recursive: true });
    const secret = crypto.randomBytes(32).toString('base64url');
    fs.writeFileSync(file, secret + '\n', { mode: 0o600 });
    return secret;
  }
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = env.NODE_ENV || 'development';
  const production = nodeEnv === 'production';
  const dataDir = path.resolve(env.DATA_DIR || '.data');
  const httpPort = port(env, 'PORT', 3000);
  const publicUrl = url(env, 'PUBLIC_URL', `http://localhost:${httpPort}`, ['http:', 'https:']).replace(/\/+$/, '');
  const allowedLinkOrigins = (env.ALLOWED_LINK_ORIGINS || new URL(publicUrl).origin)
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => {
      try {
        return new URL(o).origin;
      } catch {
        throw new ConfigError('ALLOWED_LINK_ORIGINS', `"${o}" is not an origin such as https://app.example.com`);
      }
    });
  const tosVersion = env.TERMS_OF_SERVICE_VERSION || '1.0';
  if (!/^\d+(\.\d+)*$/.test(tosVersion)) {
    throw new ConfigError('TERMS_OF_SERVICE_VERSION', `"${tosVersion}" is not a version such as 1.0`);
  }
  const temporal = loadTemporalSettings(env);
  const logLevel = env.LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `"${logLevel}" is not one of fatal, error, warn, info, debug, trace, silent`);
  }
  return {
    nodeEnv,
    production,
    dataDir,
    port: httpPort,
    publicUrl,
    allowedLinkOrigins,
    databaseUrl: env.DATABASE_URL ? url(env, 'DATABASE_URL', '', ['postgres:', 'postgresql:']) : undefined,
    temporal: {
      address: temporal.target?.address,
      target: temporal.target,
      namespace: temporal.namespace || 'default',
      taskQueue: env.TEMPORAL_TASK_QUEUE || 'flows',
      cliPath: env.TEMPORAL_CLI_PATH || undefined,
      port: port(env, 'TEMPORAL_PORT', 7233),
      uiPort: port(env, 'TEMPORAL_UI_PORT', 8233),
    },
    embedded: {
      postgresPort: port(env, 'EMBEDDED_PG_PORT', 5433),
      smtpPort: port(env, 'MAIL_SMTP_PORT', 1025),
      mailUiPort: port(env, 'MAIL_UI_PORT', 1080),
    },
    smtpUrl: env.SMTP_URL ? url(env, 'SMTP_URL', '', ['smtp:', 'smtps:']) : undefined,
    mailFrom: env.MAIL_FROM || 'flowgate <no-reply@localhost>',
    tokenSecret: tokenSecret(env, dataDir, production),
    tokenSecretPrevious: (env.TOKEN_SECRET_PREVIOUS || '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    adminToken: env.ADMIN_TOKEN || undefined,
    logLevel,
    ttl: {
      emailValidation: duration(env, 'EMAIL_VALIDATION_TTL', '24h'),
      invitationLink: duration(env, 'INVITATION_LINK_TTL', '30d'),
      inviteeVerification: duration(env, 'INVITEE_VERIFICATION_TTL', '24h'),
      trialVerification: duration(env, 'TRIAL_VERIFICATION_TTL', '7d'),
      trialLength: duration(env, 'TRIAL_LENGTH', '14d'),
      trialReminderBefore: duration(env, 'TRIAL_REMINDER_BEFORE', '3d'),
      embedToken: duration(env, 'EMBED_TOKEN_TTL', '5m'),
      billingAccessToken: duration(env, 'BILLING_ACCESS_TOKEN_TTL', '2h'),
      billingConfirmation: duration(env, 'BILLING_CONFIRMATION_TTL', '24h'),
      billingSession: duration(env, 'BILLING_SESSION_TTL', '2h'),
    },
    termsOfServiceVersion: tosVersion,
  };
}
