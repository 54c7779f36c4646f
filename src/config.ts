import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import ms from 'ms';
import { LINK_KINDS, LinkKind, urlProblem } from './shared/links';
import { loadTemporalSettings, TemporalTarget } from './temporalEnv';
import { newPayloadKeyEntry, parsePayloadKeys, PayloadKeys } from './shared/codec';

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
  /** Per kind of link: the endpoints a caller may name (portalEndpoint, acceptInvitationEndpoint, ...), besides our own page. */
  linkEndpoints: Record<LinkKind, string[]>;
  /** Per kind of link: our own page, used when the caller names none. */
  defaultLinkEndpoints: Record<LinkKind, string>;
  /** How many reverse proxies in front of the API append to X-Forwarded-For (0: the peer address is the client's). */
  trustProxyHops: number;
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
    /** The Worker Deployment version this worker is (WORKER_DEPLOYMENT_NAME, WORKER_BUILD_ID); none: unversioned. */
    workerDeployment?: { deploymentName: string; buildId: string };
  };
  /** The worker's bounds: workflows kept in memory between their tasks, workflow and activity tasks run at once. */
  worker: { maxCachedWorkflows: number; maxConcurrentWorkflowTasks: number; maxConcurrentActivities: number };
  embedded: { postgresPort: number; smtpPort: number; mailUiPort: number };
  smtpUrl?: string;
  /** The product's name in every mail and page (Toucan's deployment says "Toucan"). */
  appName: string;
  mailFrom: string;
  tokenSecret: string;
  tokenSecretPrevious: string[];
  adminToken?: string;
  /** The keys workflow and activity payloads are encrypted with (PAYLOAD_KEYS, PAYLOAD_KEY_ID). */
  payloadKeys: PayloadKeys;
  /** Origins (the Temporal Web UI's) whose pages may call the codec endpoint. */
  codecCorsOrigins: string[];
  /** The credential of the auth service that calls the trial's service endpoints (verify, creation, infos, embed-token). */
  trialServiceToken?: string;
  logLevel: string;
  limits: {
    invitationsPerInviterPerDay: number;
    invitationsPerTeamPerDay: number;
    invitationsPerInviteePerDay: number;
  };
  /** Synapse's phases on an email mismatch: 2 mails the invited address a confirmation link, 1 answers the 403 alone. */
  inviteeVerificationPhase: 1 | 2;
  ttl: {
    emailValidation: number;
    invitationMaxLifetime: number;
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
  /** How long an API request waits for a workflow's answer before it says "try again in a moment". */
  updateDeadlineMs: number;
  /** Whether the API serves its rendered reference at /reference. */
  apiReference: boolean;
  telemetry: {
    /** METRICS_ADDRESS: where this process serves /metrics; unset: 127.0.0.1:9464 for `npm start`, none for a worker or API process alone. */
    metricsAddress?: { host: string; port: number } | 'off';
    /** Where spans are posted (OTLP/HTTP); none: no tracing. */
    tracesUrl?: string;
  };
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

function workerDeployment(env: Env): { deploymentName: string; buildId: string } | undefined {
  const deploymentName = env.WORKER_DEPLOYMENT_NAME;
  const buildId = env.WORKER_BUILD_ID;
  if (!deploymentName && !buildId) return undefined;
  if (!deploymentName) throw new ConfigError('WORKER_DEPLOYMENT_NAME', 'is required with WORKER_BUILD_ID');
  if (!buildId) throw new ConfigError('WORKER_BUILD_ID', 'is required with WORKER_DEPLOYMENT_NAME');
  for (const [name, value] of [['WORKER_DEPLOYMENT_NAME', deploymentName], ['WORKER_BUILD_ID', buildId]]) {
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(value)) throw new ConfigError(name, `"${value}" must be 1 to 100 letters, digits, dots, dashes or underscores`);
  }
  return { deploymentName, buildId };
}

/**
 * A waiting flow costs its worker memory only while it is cached (about a
 * quarter of a MiB each); an evicted one replays its short history when a
 * timer or a click wakes it. 1,000 keeps a 1 to 2 GiB worker well inside its
 * memory however many flows wait. The SDK's own default grows with the heap limit instead.
 */
const DEFAULT_MAX_CACHED_WORKFLOWS = 1000;

function workerLimits(env: Env): Config['worker'] {
  const maxCachedWorkflows = count(env, 'WORKER_MAX_CACHED_WORKFLOWS', DEFAULT_MAX_CACHED_WORKFLOWS);
  if (maxCachedWorkflows === 1) throw new ConfigError('WORKER_MAX_CACHED_WORKFLOWS', '"1" is too small: 0 (no cache) or at least 2');
  // A small cache alone lowers the default, which may not exceed it.
  const maxConcurrentWorkflowTasks = count(env, 'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', maxCachedWorkflows > 0 ? Math.max(2, Math.min(40, maxCachedWorkflows)) : 40);
  const maxConcurrentActivities = count(env, 'WORKER_MAX_CONCURRENT_ACTIVITIES', 100);
  if (maxConcurrentWorkflowTasks < 2) throw new ConfigError('WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', 'must be at least 2');
  if (maxCachedWorkflows > 0 && maxConcurrentWorkflowTasks > maxCachedWorkflows) {
    throw new ConfigError('WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', `must not exceed WORKER_MAX_CACHED_WORKFLOWS (${maxCachedWorkflows})`);
  }
  if (maxConcurrentActivities < 1) throw new ConfigError('WORKER_MAX_CONCURRENT_ACTIVITIES', 'must be at least 1');
  return { maxCachedWorkflows, maxConcurrentWorkflowTasks, maxConcurrentActivities };
}

/** Every secret has one minimum length, the one TOKEN_SECRET has always had. */
export const SECRET_MIN_LENGTH = 32;

function secret(env: Env, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  if (value.length < SECRET_MIN_LENGTH) throw new ConfigError(name, `must be at least ${SECRET_MIN_LENGTH} characters`);
  return value;
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'on' || raw === 'off') return raw === 'on';
  throw new ConfigError(name, `"${raw}" is neither on nor off`);
}

function count(env: Env, name: string, fallback: number, max = 1_000_000): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > max) throw new ConfigError(name, `"${raw}" is not a whole number from 0 to ${max}`);
  return n;
}

/** Our own page for each kind of emailed link, and the variable that lists the others a caller may name. */
const LINK_ENDPOINTS: Record<LinkKind, { variable: string; page: string }> = {
  acceptInvitation: { variable: 'ACCEPT_INVITATION_ENDPOINTS', page: '/join/invitation/' },
  accountCreation: { variable: 'ACCOUNT_CREATION_ENDPOINTS', page: '/join/account/' },
  inviteeVerification: { variable: 'INVITEE_VERIFICATION_ENDPOINTS', page: '/join/verify/' },
  notificationUnsubscribe: { variable: 'NOTIFICATION_UNSUBSCRIBE_ENDPOINTS', page: '/join/unsubscribe/' },
};

function linkEndpoints(env: Env, publicUrl: string) {
  if (env.ALLOWED_LINK_ORIGINS) {
    throw new ConfigError('ALLOWED_LINK_ORIGINS', 'is no longer read: list the exact endpoints per kind of link in ' + LINK_KINDS.map((k) => LINK_ENDPOINTS[k].variable).join(', '));
  }
  const allowed = {} as Record<LinkKind, string[]>;
  const defaults = {} as Record<LinkKind, string>;
  for (const kind of LINK_KINDS) {
    const { variable, page } = LINK_ENDPOINTS[kind];
    defaults[kind] = publicUrl + page;
    allowed[kind] = (env[variable] || '')
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)
      .map((endpoint) => {
        const problem = urlProblem(endpoint);
        if (problem) throw new ConfigError(variable, `"${endpoint}" ${problem}`);
        return endpoint;
      });
  }
  return { allowed, defaults };
}

/**
 * Development keeps each generated secret under the data directory so links
 * and encrypted history survive restarts; production must be given them.
 */
function devSecret(dataDir: string, name: string, make: () => string): string {
  const file = path.join(dataDir, name);
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    fs.mkdirSync(dataDir, { recursive: true });
    // Written aside, then linked into place: of processes starting together, one wins and all read its secret.
    const draft = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(draft, make() + '\n', { mode: 0o600 });
    try {
      fs.linkSync(draft, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(draft, { force: true });
    }
    return fs.readFileSync(file, 'utf8').trim();
  }
}

function tokenSecret(env: Env, dataDir: string, production: boolean): string {
  const given = env.TOKEN_SECRET;
  if (given) {
    if (given.length < SECRET_MIN_LENGTH) throw new ConfigError('TOKEN_SECRET', `must be at least ${SECRET_MIN_LENGTH} characters`);
    return given;
  }
  if (production) throw new ConfigError('TOKEN_SECRET', 'is required when NODE_ENV=production');
  return devSecret(dataDir, 'token-secret', () => crypto.randomBytes(32).toString('base64url'));
}

/** The operator key; development generates one (kept in .data/admin-token) so the Web UI's codec endpoint works out of the box. */
function adminToken(env: Env, dataDir: string, production: boolean): string | undefined {
  const given = secret(env, 'ADMIN_TOKEN');
  if (given || production) return given;
  return devSecret(dataDir, 'admin-token', () => crypto.randomBytes(32).toString('base64url'));
}

function payloadKeys(env: Env, dataDir: string, production: boolean): PayloadKeys {
  let list = env.PAYLOAD_KEYS;
  if (!list) {
    if (production) throw new ConfigError('PAYLOAD_KEYS', 'is required when NODE_ENV=production (e.g. k1:$(openssl rand -base64 32))');
    list = devSecret(dataDir, 'payload-keys', () => newPayloadKeyEntry());
  }
  const keys = parsePayloadKeys(list, env.PAYLOAD_KEY_ID || undefined);
  if ('problem' in keys) throw new ConfigError(keys.variable, keys.problem);
  return keys;
}

function codecCorsOrigins(env: Env, production: boolean, uiPort: number): string[] {
  const raw = env.CODEC_CORS_ORIGINS ?? (production ? '' : `http://localhost:${uiPort},http://127.0.0.1:${uiPort}`);
  return raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
    .map((origin) => {
      let parsed: URL | undefined;
      try {
        parsed = new URL(origin);
      } catch {
        // reported below
      }
      if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.origin !== origin) {
        throw new ConfigError('CODEC_CORS_ORIGINS', `"${origin.slice(0, 100)}" is not an origin such as https://temporal-ui.example.com (scheme, host and port only)`);
      }
      return origin;
    });
}

function inviteeVerificationPhase(env: Env): 1 | 2 {
  const raw = env.INVITEE_VERIFICATION_PHASE || '2';
  if (raw !== '1' && raw !== '2') throw new ConfigError('INVITEE_VERIFICATION_PHASE', `"${raw}" is not 1 (a 403 alone) or 2 (a 403 and a confirmation mail to the invited address)`);
  return raw === '1' ? 1 : 2;
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = env.NODE_ENV || 'development';
  const production = nodeEnv === 'production';
  const dataDir = path.resolve(env.DATA_DIR || '.data');
  const httpPort = port(env, 'PORT', 3000);
  const publicUrl = url(env, 'PUBLIC_URL', `http://localhost:${httpPort}`, ['http:', 'https:']).replace(/\/+$/, '');
  const links = linkEndpoints(env, publicUrl);
  const trustProxyHops = count(env, 'TRUST_PROXY', 0, 10);
  const tosVersion = env.TERMS_OF_SERVICE_VERSION || '1.0';
  if (!/^\d+(\.\d+)*$/.test(tosVersion)) {
    throw new ConfigError('TERMS_OF_SERVICE_VERSION', `"${tosVersion}" is not a version such as 1.0`);
  }
  const temporal = loadTemporalSettings(env);
  const appName = (env.APP_NAME || 'flowgate').trim();
  // Shown in pages, subjects and the sender's name: words and a few signs, never a header or markup.
  if (!/^[\p{L}\p{N}][\p{L}\p{N} .&'!+-]{0,59}$/u.test(appName)) {
    throw new ConfigError('APP_NAME', `"${appName.slice(0, 80)}" is not a product name (1 to 60 letters, digits, spaces and . & ' ! + -)`);
  }
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
    linkEndpoints: links.allowed,
    defaultLinkEndpoints: links.defaults,
    trustProxyHops,
    databaseUrl: env.DATABASE_URL ? url(env, 'DATABASE_URL', '', ['postgres:', 'postgresql:']) : undefined,
    temporal: {
      address: temporal.target?.address,
      target: temporal.target,
      namespace: temporal.namespace || 'default',
      taskQueue: env.TEMPORAL_TASK_QUEUE || 'flows',
      cliPath: env.TEMPORAL_CLI_PATH || undefined,
      port: port(env, 'TEMPORAL_PORT', 7233),
      uiPort: port(env, 'TEMPORAL_UI_PORT', 8233),
      workerDeployment: workerDeployment(env),
    },
    worker: workerLimits(env),
    embedded: {
      postgresPort: port(env, 'EMBEDDED_PG_PORT', 5433),
      smtpPort: port(env, 'MAIL_SMTP_PORT', 1025),
      mailUiPort: port(env, 'MAIL_UI_PORT', 1080),
    },
    smtpUrl: env.SMTP_URL ? url(env, 'SMTP_URL', '', ['smtp:', 'smtps:']) : undefined,
    appName,
    mailFrom: env.MAIL_FROM || `${appName} <no-reply@localhost>`,
    tokenSecret: tokenSecret(env, dataDir, production),
    tokenSecretPrevious: (env.TOKEN_SECRET_PREVIOUS || '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((previous) => {
        if (previous.length < SECRET_MIN_LENGTH) throw new ConfigError('TOKEN_SECRET_PREVIOUS', `every secret must be at least ${SECRET_MIN_LENGTH} characters`);
        return previous;
      }),
    adminToken: adminToken(env, dataDir, production),
    payloadKeys: payloadKeys(env, dataDir, production),
    codecCorsOrigins: codecCorsOrigins(env, production, port(env, 'TEMPORAL_UI_PORT', 8233)),
    trialServiceToken: secret(env, 'TRIAL_SERVICE_TOKEN'),
    logLevel,
    limits: {
      invitationsPerInviterPerDay: count(env, 'INVITATIONS_PER_INVITER_PER_DAY', 50),
      invitationsPerTeamPerDay: count(env, 'INVITATIONS_PER_TEAM_PER_DAY', 100),
      invitationsPerInviteePerDay: count(env, 'INVITATIONS_PER_INVITEE_PER_DAY', 5),
    },
    ttl: {
      emailValidation: duration(env, 'EMAIL_VALIDATION_TTL', '24h'),
      invitationMaxLifetime: duration(env, 'INVITATION_MAX_LIFETIME', '365d'),
      inviteeVerification: duration(env, 'INVITEE_VERIFICATION_TTL', '24h'),
      trialVerification: duration(env, 'TRIAL_VERIFICATION_TTL', '7d'),
      trialLength: duration(env, 'TRIAL_LENGTH', '14d'),
      trialReminderBefore: duration(env, 'TRIAL_REMINDER_BEFORE', '3d'),
      embedToken: duration(env, 'EMBED_TOKEN_TTL', '5m'),
      billingAccessToken: duration(env, 'BILLING_ACCESS_TOKEN_TTL', '2h'),
      billingConfirmation: duration(env, 'BILLING_CONFIRMATION_TTL', '24h'),
      billingSession: duration(env, 'BILLING_SESSION_TTL', '2h'),
    },
    inviteeVerificationPhase: inviteeVerificationPhase(env),
    termsOfServiceVersion: tosVersion,
    updateDeadlineMs: duration(env, 'UPDATE_DEADLINE', '10s'),
    apiReference: onOff(env, 'API_REFERENCE', !production),
    telemetry: { metricsAddress: metricsAddress(env), tracesUrl: tracesUrl(env) },
  };
}

/** `host:port`, `[v6]:port` or a port alone (on the loopback interface: metrics are for the operator's scraper, not the public). */
function metricsAddress(env: Env): { host: string; port: number } | 'off' | undefined {
  const raw = env.METRICS_ADDRESS;
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'off') return 'off';
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(raw);
  if (!m || Number(m[2]) > 65535) throw new ConfigError('METRICS_ADDRESS', `"${raw}" is not host:port, a port, or off`);
  return { host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** OpenTelemetry's own variables: the traces endpoint as given, or the base endpoint with /v1/traces. */
function tracesUrl(env: Env): string | undefined {
  const [name, value] = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    ? ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT]
    : ['OTEL_EXPORTER_OTLP_ENDPOINT', env.OTEL_EXPORTER_OTLP_ENDPOINT ? env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '') + '/v1/traces' : ''];
  if (!value) return undefined;
  url(env, name, value, ['http:', 'https:']);
  return value;
}

/** `npm run worker` and `npm run api` run against servers of their own: all three must be named. */
export function ownServers(config: Config, role: 'worker' | 'API'): { databaseUrl: string; temporal: TemporalTarget; smtpUrl: string } {
  const alone = `is required to run the ${role} on its own`;
  if (!config.databaseUrl) throw new ConfigError('DATABASE_URL', alone);
  if (!config.temporal.target) throw new ConfigError('TEMPORAL_ADDRESS', alone);
  if (!config.smtpUrl) throw new ConfigError('SMTP_URL', alone);
  return { databaseUrl: config.databaseUrl, temporal: config.temporal.target, smtpUrl: config.smtpUrl };
}
