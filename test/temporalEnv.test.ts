import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../src/config';
import { loadTemporalSettings } from '../src/temporalEnv';

/** A CA, a client certificate and key, and a key of another pair, made with the deployment's own script. */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-tls-'));
const other = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-tls-'));
beforeAll(() => {
  const script = path.resolve(__dirname, '..', 'deploy', 'tls', 'make-certs.sh');
  execFileSync('sh', [script, dir, '1']);
  execFileSync('sh', [script, other, '1']);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(other, { recursive: true, force: true });
});

const file = (f: string) => path.join(dir, f);
/** No temporal.toml of the machine's user takes part unless a test writes one. */
const base = { TEMPORAL_CONFIG_FILE: path.join(dir, 'absent.toml') };

function configError(env: Record<string, string>): ConfigError {
  try {
    loadTemporalSettings({ ...base, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no configuration error');
}

describe('Temporal connection settings (environment configuration)', () => {
  it('leaves Temporal unconfigured without an address, so npm start runs its dev server', () => {
    expect(loadTemporalSettings(base)).toEqual({ namespace: undefined });
  });

  it('reads address, namespace, CA, client certificate and key, and server name from TEMPORAL_* variables', () => {
    const settings = loadTemporalSettings({
      ...base,
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'flows',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: file('ca.pem'),
      TEMPORAL_TLS_CLIENT_CERT_PATH: file('client.pem'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: file('client-key.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal',
    });
    expect(settings.namespace).toBe('flows');
    expect(settings.target?.address).toBe('temporal.internal:7233');
    const tls = settings.target?.tls as { serverNameOverride?: string; serverRootCACertificate?: Uint8Array; clientCertPair?: { crt: Uint8Array } };
    expect(tls.serverNameOverride).toBe('temporal');
    expect(Buffer.from(tls.serverRootCACertificate!).toString()).toBe(fs.readFileSync(file('ca.pem'), 'utf8'));
    expect(Buffer.from(tls.clientCertPair!.crt).toString()).toBe(fs.readFileSync(file('client.pem'), 'utf8'));
  });

  it('turns TLS on for an API key (Temporal Cloud) and keeps the key out of the TLS settings', () => {
    const settings = loadTemporalSettings({ ...base, TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'secret-key' });
    expect(settings.target).toMatchObject({ address: 'ns.acct.tmprl.cloud:7233', apiKey: 'secret-key', tls: true });
  });

  it('reads a profile of a temporal.toml file, with variables taking precedence', () => {
    const toml = path.join(dir, 'temporal.toml');
    fs.writeFileSync(toml, [
      '[profile.prod]', 'address = "prod.internal:7233"', 'namespace = "prod"',
      '[profile.prod.tls]', `server_ca_cert_path = "${file('ca.pem')}"`, `client_cert_path = "${file('client.pem')}"`, `client_key_path = "${file('client-key.pem')}"`,
    ].join('\n'));
    const settings = loadTemporalSettings({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod', TEMPORAL_NAMESPACE: 'override' });
    expect(settings.target?.address).toBe('prod.internal:7233');
    expect(settings.namespace).toBe('override');
    expect((settings.target?.tls as { clientCertPair?: unknown }).clientCertPair).toBeDefined();
    // A bad path in the file is named by its place in the file.
    fs.writeFileSync(toml, ['[profile.prod]', 'address = "prod.internal:7233"', '[profile.prod.tls]', 'client_cert_path = "/nowhere/client.pem"', `client_key_path = "${file('client-key.pem')}"`].join('\n'));
    expect(configError({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod' }).message).toBe(`${toml} [profile.prod] tls.client_cert_path: cannot read /nowhere/client.pem (no such file)`);
    expect(configError({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'staging' }).variable).toBe('TEMPORAL_PROFILE');
    fs.writeFileSync(toml, 'address = [');
    expect(configError({ TEMPORAL_CONFIG_FILE: toml }).variable).toBe('TEMPORAL_CONFIG_FILE');
  });

  it('names the variable of each unusable TLS input', () => {
    const tls = { TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_TLS_SERVER_CA_CERT_PATH: file('ca.pem'), TEMPORAL_TLS_CLIENT_CERT_PATH: file('client.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: file('client-key.pem') };
    expect(configError({ ...tls, TEMPORAL_TLS_CLIENT_CERT_PATH: '/nowhere/client.pem' }).message).toBe('TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read /nowhere/client.pem (no such file)');
    expect(configError({ ...tls, TEMPORAL_TLS_SERVER_CA_CERT_PATH: file('client-key.pem') }).message).toBe('TEMPORAL_TLS_SERVER_CA_CERT_PATH: is not a PEM CA certificate');
    expect(configError({ ...tls, TEMPORAL_TLS_CLIENT_KEY_PATH: file('ca.pem') }).message).toBe('TEMPORAL_TLS_CLIENT_KEY_PATH: is not a PEM private key');
    expect(configError({ ...tls, TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(other, 'client-key.pem') }).message).toBe('TEMPORAL_TLS_CLIENT_KEY_PATH: is not the key of the certificate in TEMPORAL_TLS_CLIENT_CERT_PATH');
    expect(configError({ ...tls, TEMPORAL_TLS_CLIENT_KEY_PATH: '' }).variable).toBe('TEMPORAL_TLS_CLIENT_KEY_PATH');
    expect(configError({ ...tls, TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' }).variable).toBe('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION');
    expect(configError({ TEMPORAL_API_KEY: 'k' }).variable).toBe('TEMPORAL_ADDRESS');
  });
});
