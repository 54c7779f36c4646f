// What docker-compose.yml runs, read from the file, so that test:cluster
// runs the same commands and scripts with the same variables.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { resolveTemporalCli } from '../../src/dev/temporal';
import { ComposeService, exposedBeyondLoopback, readComposeServices } from '../support/compose';
import { ROOT, TEMPORAL_SERVER_VERSION } from './tools';

interface Service extends ComposeService {
  command?: string[] | string;
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
}

export interface ComposePlan {
  /** Variable names the app services are given. */
  appVariables: string[];
  /** Variable names the Temporal server is given. */
  temporalVariables: string[];
  /** Variable names the admin-tools (namespace) container is given. */
  adminVariables: string[];
  commands: { migrate: string[]; worker: string[]; api: string[] };
  replicas: { worker: number; api: number };
}

/** Variables only the test sets: free ports on one machine, and the short expiries and per-flow client addresses its flows need. */
export const TEST_ONLY = {
  app: ['TRUST_PROXY', 'LOG_LEVEL', 'TRIAL_VERIFICATION_TTL', 'EMAIL_VALIDATION_TTL', 'BILLING_CONFIRMATION_TTL'],
  temporal: [
    'FRONTEND_GRPC_PORT', 'FRONTEND_HTTP_PORT', 'FRONTEND_MEMBERSHIP_PORT', 'HISTORY_GRPC_PORT', 'HISTORY_MEMBERSHIP_PORT',
    'MATCHING_GRPC_PORT', 'MATCHING_MEMBERSHIP_PORT', 'WORKER_GRPC_PORT', 'WORKER_MEMBERSHIP_PORT', 'LOG_LEVEL',
  ],
  admin: ['TEMPORAL_CLI', 'TEMPORAL_CONFIG_FILE'],
};

export function readCompose(file = path.join(ROOT, 'docker-compose.yml')): ComposePlan {
  const services = readComposeServices<Service>(file);
  const service = (name: string) => {
    const s = services[name];
    if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
    return s;
  };
  const argv = (name: string) => {
    const c = service(name).command;
    if (!Array.isArray(c)) throw new Error(`docker-compose.yml: ${name}.command must be a list`);
    return c;
  };
  const problems = exposedBeyondLoopback(services);
  for (const [name, s] of Object.entries(services)) {
    if (s.image?.startsWith('temporalio/auto-setup')) problems.push(`${name} uses the deprecated temporalio/auto-setup image`);
    if (/^temporalio\/(server|admin-tools):/.test(s.image ?? '') && !s.image!.endsWith(`:${TEMPORAL_SERVER_VERSION}`)) {
      problems.push(`${name} runs ${s.image}, the test runs Temporal ${TEMPORAL_SERVER_VERSION}`);
    }
  }
  // The Web UI the operators test drives is the one the Temporal CLI bundles: compose runs that same version.
  const ui = uiVersionTested();
  if (ui && service('temporal-ui').image !== `temporalio/ui:${ui}`) problems.push(`temporal-ui runs ${service('temporal-ui').image}, the tests run the Web UI ${ui}`);
  const appEnv = Object.keys(service('api').environment ?? {});
  for (const name of ['migrate', 'worker']) {
    const keys = Object.keys(service(name).environment ?? {});
    if (keys.sort().join() !== [...appEnv].sort().join()) problems.push(`${name} and api have different variables`);
  }
  if (!String(service('temporal-schema').command).includes('deploy/temporal/setup-schema.sh')) problems.push('temporal-schema does not run deploy/temporal/setup-schema.sh');
  if (!String(service('temporal-admin-tools').command).includes('deploy/temporal/create-namespace.sh')) problems.push('temporal-admin-tools does not run deploy/temporal/create-namespace.sh');
  if (problems.length) throw new Error(`docker-compose.yml: ${problems.join('; ')}`);
  return {
    appVariables: appEnv,
    temporalVariables: Object.keys(service('temporal').environment ?? {}),
    adminVariables: Object.keys(service('temporal-admin-tools').environment ?? {}),
    commands: { migrate: argv('migrate'), worker: argv('worker'), api: argv('api') },
    replicas: { worker: service('worker').deploy?.replicas ?? 1, api: service('api').deploy?.replicas ?? 1 },
  };
}

/** The compose file and the test give a process the same variables, apart from the test's own. */
export function assertSameVariables(what: string, compose: string[], test: Record<string, string>, testOnly: string[]): void {
  const given = Object.keys(test);
  const missing = compose.filter((k) => !given.includes(k));
  const extra = given.filter((k) => !compose.includes(k) && !testOnly.includes(k));
  if (missing.length || extra.length) {
    throw new Error(`${what}: docker-compose.yml and test:cluster differ (${[...missing.map((k) => `only compose sets ${k}`), ...extra.map((k) => `only the test sets ${k}`)].join(', ')})`);
  }
}

/** The Web UI version bundled with the Temporal CLI the tests run ("temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)"). */
function uiVersionTested(): string | undefined {
  const cli = resolveTemporalCli();
  if (!cli) return undefined;
  const out = spawnSync(cli, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const version = /\bUI (\d+\.\d+\.\d+)\b/.exec(out)?.[1];
  if (!version) throw new Error(`${cli} --version did not name its Web UI: ${JSON.stringify(out.trim())}`);
  return version;
}
