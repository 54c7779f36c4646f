// docker-compose.yml as data, for the checks that read it: test:cluster's
// plan and the attack corpus's look at what the host exposes.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export const COMPOSE_FILE = path.resolve(__dirname, '..', '..', 'docker-compose.yml');

/** A port as compose accepts it: "[host_ip:][published:]target[/protocol]", a bare number, or the long form. */
export type ComposePort = string | number | { target?: number | string; published?: number | string; host_ip?: string; protocol?: string };

export interface ComposeService {
  image?: string;
  ports?: ComposePort[];
  network_mode?: string;
}

/** The file's services, with its `<<:` merge keys resolved. */
export function readComposeServices<S extends ComposeService = ComposeService>(file = COMPOSE_FILE): Record<string, S> {
  const doc = parse(fs.readFileSync(file, 'utf8'), { merge: true }) as { services?: Record<string, S> };
  if (!doc?.services) throw new Error(`${file} has no services`);
  return doc.services;
}

/** The host address a published port listens on; compose's default, no address, is every interface. */
function hostIp(port: ComposePort): string {
  if (typeof port === 'object') return port.host_ip ?? '';
  const spec = String(port).replace(/\/\w+$/, '');
  const ipv6 = /^\[([^\]]*)\]:/.exec(spec);
  if (ipv6) return ipv6[1];
  const parts = spec.split(':');
  return parts.length === 3 ? parts[0] : '';
}

/** Each way a service is reachable from outside the host other than through 127.0.0.1. */
export function exposedBeyondLoopback(services: Record<string, ComposeService>): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(services)) {
    // The host's network: every port the container listens on is open on every interface.
    if (service.network_mode === 'host') problems.push(`${name} uses the host's network`);
    for (const port of service.ports ?? []) {
      const ip = hostIp(port);
      if (ip !== '127.0.0.1') problems.push(`${name} publishes ${typeof port === 'object' ? JSON.stringify(port) : port} on ${ip === '' || ip === '0.0.0.0' || ip === '::' ? 'every interface' : ip}`);
    }
  }
  return problems;
}
