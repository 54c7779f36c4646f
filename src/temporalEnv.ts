import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { loadClientConfigProfile, type ClientConfigProfile, type ConfigDataSource } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { ConfigError } from './config';

/**
 * Where and how to reach Temporal, read the way Temporal's CLI and SDKs read
 * it: the TEMPORAL_* environment variables over a profile of a temporal.toml
 * file (TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml;
 * profile TEMPORAL_PROFILE, else "default").
 */
export interface TemporalTarget {
  address: string;
  tls?: TLSConfig | true;
  apiKey?: string;
  metadata?: Record<string, string>;
  /** The setting each input came from, for messages that name it. */
  names: Partial<Record<'serverCa' | 'clientCert' | 'clientKey' | 'serverName' | 'tls', string>>;
}

type Env = Record<string, string | undefined>;

export interface TemporalSettings {
  /** Unset: no Temporal is configured (npm start then runs a dev server). */
  target?: TemporalTarget;
  namespace?: string;
}

function configFile(env: Env): string | undefined {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  const base = env.XDG_CONFIG_HOME || (env.HOME ? path.join(env.HOME, '.config') : undefined);
  return base ? path.join(base, 'temporalio', 'temporal.toml') : undefined;
}

function loadProfile(env: Env): ClientConfigProfile {
  const file = configFile(env);
  // An empty variable (compose's `KEY: ""`) means unset, as everywhere else in the configuration.
  const defined = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  try {
    return loadClientConfigProfile({ overrideEnvVars: defined });
  } catch (err) {
    const message = String((err as Error)?.message ?? err).split('\n')[0];
    if (/Profile '.*' not found/.test(message)) throw new ConfigError('TEMPORAL_PROFILE', `no profile "${env.TEMPORAL_PROFILE}" in ${file}`);
    // An empty or malformed file (the loader itself fails on a file without [profile.*] tables).
    throw new ConfigError('TEMPORAL_CONFIG_FILE', `${file} is not a Temporal configuration file (${message})`);
  }
}

/** The name to print for a TLS input: its variable when the environment set it, else its key in the file. */
function nameOf(env: Env, variables: string[], tomlKey: string): string {
  const given = variables.find((v) => env[v] !== undefined && env[v] !== '');
  return given ?? `${configFile(env)} [profile.${env.TEMPORAL_PROFILE || 'default'}] tls.${tomlKey}`;
}

function read(source: ConfigDataSource, name: string): Buffer {
  if ('data' in source) return Buffer.from(source.data);
  try {
    return fs.readFileSync(source.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(name, `cannot read ${source.path} (${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code})`);
  }
}

function certificate(bytes: Buffer, name: string, what: string): crypto.X509Certificate {
  try {
    return new crypto.X509Certificate(bytes);
  } catch {
    throw new ConfigError(name, `is not a PEM ${what} certificate`);
  }
}

export function loadTemporalSettings(env: Env = process.env): TemporalSettings {
  if (env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION === 'true' || env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION === '1') {
    throw new ConfigError('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION', "is not supported by the TypeScript SDK; set TEMPORAL_TLS_SERVER_NAME to a name in the server's certificate instead");
  }
  const profile = loadProfile(env);
  const namespace = profile.namespace || undefined;
  if (!profile.address) {
    if (profile.apiKey || (profile.tls && !profile.tls.disabled)) throw new ConfigError('TEMPORAL_ADDRESS', 'is required when TLS or an API key is configured');
    return { namespace };
  }
  const names: TemporalTarget['names'] = {};
  let tls: TLSConfig | true | undefined;
  if (profile.tls && !profile.tls.disabled) {
    names.tls = nameOf(env, ['TEMPORAL_TLS'], 'disabled');
    names.serverName = nameOf(env, ['TEMPORAL_TLS_SERVER_NAME'], 'server_name');
    const config: TLSConfig = { serverNameOverride: profile.tls.serverName || undefined };
    if (profile.tls.serverCACert) {
      names.serverCa = nameOf(env, ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_DATA'], 'server_ca_cert_path');
      const ca = read(profile.tls.serverCACert, names.serverCa);
      certificate(ca, names.serverCa, 'CA');
      config.serverRootCACertificate = ca;
    }
    const { clientCert, clientKey } = profile.tls;
    if (clientCert || clientKey) {
      names.clientCert = nameOf(env, ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_CERT_DATA'], 'client_cert_path');
      names.clientKey = nameOf(env, ['TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_CLIENT_KEY_DATA'], 'client_key_path');
      if (!clientCert) throw new ConfigError('TEMPORAL_TLS_CLIENT_CERT_PATH', `is required with ${names.clientKey}`);
      if (!clientKey) throw new ConfigError('TEMPORAL_TLS_CLIENT_KEY_PATH', `is required with ${names.clientCert}`);
      const crt = read(clientCert, names.clientCert);
      const cert = certificate(crt, names.clientCert, 'client');
      const key = read(clientKey, names.clientKey);
      let privateKey: crypto.KeyObject;
      try {
        privateKey = crypto.createPrivateKey(key);
      } catch {
        throw new ConfigError(names.clientKey, 'is not a PEM private key');
      }
      if (!cert.checkPrivateKey(privateKey)) throw new ConfigError(names.clientKey, `is not the key of the certificate in ${names.clientCert}`);
      config.clientCertPair = { crt, key };
    }
    tls = config;
  } else if (profile.apiKey && !profile.tls?.disabled) {
    // An API key implies TLS (Temporal Cloud), with the system's trusted CAs.
    tls = true;
  }
  return {
    namespace,
    target: { address: profile.address, tls, apiKey: profile.apiKey || undefined, metadata: profile.grpcMeta, names },
  };
}

/** A plain address (the dev server) or a configured target. */
export function asTarget(target: string | TemporalTarget): TemporalTarget {
  return typeof target === 'string' ? { address: target, names: {} } : target;
}

/** Options for the client's Connection and the worker's NativeConnection alike. */
export function connectionOptions(target: TemporalTarget) {
  return { address: target.address, tls: target.tls, apiKey: target.apiKey, metadata: target.metadata };
}

/**
 * What a TLS handshake with the server says, when the gRPC library only says
 * it could not connect: the server's certificate is not trusted or not valid
 * for the name, or the server refuses our certificate (in TLS 1.3 that alert
 * comes after the handshake, so the client also sends the HTTP/2 preface and
 * waits for the server's answer). Undefined when the handshake succeeds or
 * nothing answers.
 */
function probeTls(target: TemporalTarget): Promise<string | undefined> {
  const [host, port] = [target.address.slice(0, target.address.lastIndexOf(':')), Number(target.address.slice(target.address.lastIndexOf(':') + 1))];
  const config = typeof target.tls === 'object' ? target.tls : {};
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port,
      servername: config.serverNameOverride ?? (net.isIP(host) ? undefined : host),
      ca: config.serverRootCACertificate ? [Buffer.from(config.serverRootCACertificate)] : undefined,
      cert: config.clientCertPair ? Buffer.from(config.clientCertPair.crt) : undefined,
      key: config.clientCertPair ? Buffer.from(config.clientCertPair.key) : undefined,
      ALPNProtocols: ['h2'],
      rejectUnauthorized: true,
      checkServerIdentity: config.serverNameOverride ? (_name, cert) => tls.checkServerIdentity(config.serverNameOverride!, cert) : undefined,
    });
    const done = (answer: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), 3000);
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' ? undefined : err.message));
    socket.once('secureConnect', () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    socket.once('data', () => done(undefined));
  });
}

/**
 * The connection error as a configuration error naming the setting to fix:
 * an unreachable address, a certificate the server refused, a server
 * certificate the configured CA did not sign, a name the certificate lacks,
 * TLS on one side only.
 */
export async function connectionError(err: unknown, target: TemporalTarget): Promise<ConfigError> {
  const detail = String((err as Error)?.message ?? err).split('\n')[0];
  const at = `Temporal at ${target.address}`;
  const { names } = target;
  if (!target.tls) {
    if (await tlsAnswers(target)) return new ConfigError('TEMPORAL_TLS', `${at} speaks TLS: set TEMPORAL_TLS=true (with TEMPORAL_TLS_SERVER_CA_CERT_PATH for a private CA) (${detail})`);
    return new ConfigError('TEMPORAL_ADDRESS', `cannot reach ${at} (${detail})`);
  }
  const probed = (await probeTls(target))?.trim();
  // OpenSSL's messages carry a code path around the part that matters ("tlsv13 alert certificate required").
  const handshake = probed ? (/:([^:]*alert[^:]*):/.exec(probed)?.[1] ?? probed.split('\n')[0]) : detail;
  if (/certificate required|bad certificate|unknown ca|CertificateRequired|BadCertificate|UnknownCA/i.test(handshake)) {
    return new ConfigError(names.clientCert ?? 'TEMPORAL_TLS_CLIENT_CERT_PATH', `${at} refused the TLS handshake: it wants a client certificate signed by a CA it trusts (${handshake})`);
  }
  if (/altname|hostname|not valid for name|NotValidForName|does not match/i.test(handshake)) {
    return new ConfigError(names.serverName ?? 'TEMPORAL_TLS_SERVER_NAME', `the certificate of ${at} is not valid for the name checked (${handshake})`);
  }
  if (/self[- ]signed|issuer|unable to verify|UnknownIssuer|certificate verify failed|signature/i.test(handshake)) {
    return new ConfigError(names.serverCa ?? 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', `the certificate of ${at} is not signed by the configured CA (${handshake})`);
  }
  if (/wrong version number|packet length|unexpected eof|socket disconnected|EPROTO/i.test(handshake)) {
    return new ConfigError(names.tls ?? 'TEMPORAL_TLS', `${at} does not answer TLS; unset the TLS settings for a plain connection (${handshake})`);
  }
  return new ConfigError('TEMPORAL_ADDRESS', `cannot reach ${at} (${detail})`);
}

/** Whether anything completes a TLS handshake at the target's address. */
function tlsAnswers(target: TemporalTarget): Promise<boolean> {
  const i = target.address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = tls.connect({ host: target.address.slice(0, i), port: Number(target.address.slice(i + 1)), rejectUnauthorized: false });
    const done = (ok: boolean) => (clearTimeout(timer), socket.destroy(), resolve(ok));
    const timer = setTimeout(() => done(false), 3000);
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
  });
}
