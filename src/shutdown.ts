import type http from 'node:http';
import { ConfigError } from './config';
import { log } from './shared/log';

/** Configuration mistakes end the process with one line naming the variable; anything else is logged. */
export function exitOnConfigError(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`flowgate: ${err.message}\n`);
  } else {
    log.fatal({ err }, 'failed to start');
  }
  process.exit(1);
}

/**
 * SIGTERM or SIGINT runs `stop` once, and the process exits within
 * `deadlineMs` whatever `stop` waits for: a supervisor (docker stop,
 * Kubernetes) SIGKILLs 10 s after its SIGTERM, and an exit of our own first
 * flushes the log and says what was cut short. Work cut short is retried by
 * another process: activities are idempotent, updates are keyed.
 * `inFlight` counts the work still in hand at the deadline: with none (only
 * a server's long polls outstanding), the exit is a clean one.
 */
export function stopOnSignal(what: string, stop: () => Promise<void>, deadlineMs: number, inFlight: () => Record<string, number> = () => ({})): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${what} stopping`);
    setTimeout(() => {
      const unfinished = Object.fromEntries(Object.entries(inFlight()).filter(([, n]) => n > 0));
      const cutShort = Object.keys(unfinished).length > 0;
      log.warn({ deadlineMs, unfinished }, `${what} exits at its stop deadline${cutShort ? ', cutting work short' : ' with nothing in hand'}`);
      process.exit(cutShort ? 1 : 0);
    }, deadlineMs).unref();
    stop().then(
      () => {
        log.info(`${what} stopped`);
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, `${what} failed while stopping`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Stops accepting connections and resolves once the requests in flight are answered. */
export function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
