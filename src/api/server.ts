import http from 'node:http';
import type Koa from 'koa';
import { ConfigError, loadConfig, ownServers } from '../config';
import { connectDb, connectTemporal, createDeps } from '../deps';
import { createApp } from './app';
import { log } from '../shared/log';
import { close, exitOnConfigError, stopOnSignal } from '../shutdown';
import { payloadDataConverter } from '../shared/codec';
import { serveMetrics } from '../telemetry/metrics';
import { startTracing, stopTracing } from '../telemetry/tracing';

const API_STOP_DEADLINE_MS = 9_000;

/** Listens on `port`; a port in use is a configuration error naming PORT. */
export function listen(app: Koa, port: number): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(app.callback());
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new ConfigError('PORT', `port ${port} is already in use`) : err),
    );
    server.listen(port, () => resolve(server));
  });
}

/** `npm run api`: the API alone, against the servers named in the environment. */
async function main(): Promise<void> {
  const config = loadConfig();
  const servers = ownServers(config, 'API');
  startTracing(config.telemetry);
  const db = await connectDb(servers.databaseUrl);
  const temporal = await connectTemporal(servers.temporal, config.temporal.namespace, payloadDataConverter(config.payloadKeys));
  const deps = createDeps(config, db, servers.smtpUrl);
  const server = await listen(createApp({ ...deps, temporal }), config.port);
  // Only where asked for: several API processes may share a host, and each needs a port of its own.
  const address = config.telemetry.metricsAddress;
  const metrics = address && address !== 'off' ? await serveMetrics(address) : undefined;
  log.info({ url: config.publicUrl }, 'API listening');
  let requests = 0;
  server.on('request', (_req, res: http.ServerResponse) => {
    requests++;
    res.once('close', () => requests--);
  });
  // Requests in flight finish (each within its update deadline), within the 10 s before a supervisor's SIGKILL.
  stopOnSignal('API', async () => {
    await close(server);
    if (metrics) await close(metrics);
    await temporal.connection.close();
    await db.$disconnect();
    deps.mailer.close();
    await stopTracing();
  }, API_STOP_DEADLINE_MS, () => ({ requests }));
}

if (require.main === module) main().catch(exitOnConfigError);
