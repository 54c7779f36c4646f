import { AsyncLocalStorage } from 'node:async_hooks';
import pino from 'pino';
import type { Logger as TemporalLogger, LogLevel, LogMetadata } from '@temporalio/common';

/** Where log lines go: standard output, unless redirected (the test suite keeps them, and shows them for a failed test). */
let destination: { write(line: string): unknown } = process.stdout;

export function redirectLogs(to: { write(line: string): unknown }): void {
  destination = to;
}

/**
 * Fields every line logged within a piece of work carries: an activity's
 * workflow ID, run ID and flow kind, a request's trace ID (set by
 * src/telemetry), so the service's own lines join the SDK's.
 */
export const logContext = new AsyncLocalStorage<Record<string, string>>();

/**
 * One logger for the process. Fields that may carry secrets are redacted
 * wherever they appear, so a token or password never reaches the log.
 */
export const log = pino(
  {
    level: process.env.LOG_LEVEL || 'info',
    redact: {
      paths: [
        'password', '*.password', 'token', '*.token', 'hmac', '*.hmac', 'secret', '*.secret',
        'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie',
      ],
      censor: '[redacted]',
    },
    base: undefined,
    mixin: () => logContext.getStore() ?? {},
  },
  { write: (line: string) => destination.write(line) },
);

const PINO_LEVEL = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;
/** The SDK's own chatter (worker state changes, bundling) below this level stays out of the log unless LOG_LEVEL asks for debug. */
const SDK_QUIET_BELOW: LogLevel[] = ['TRACE', 'DEBUG', 'INFO'];

/**
 * The Temporal SDK's logger, writing through pino: the worker's, the
 * activities' and the workflows' log lines (and the SDK core's, forwarded)
 * share one format and one destination with the service's own.
 */
export function temporalLogger(base = log.child({ component: 'temporal' })): TemporalLogger {
  const write = (level: LogLevel, message: string, meta: LogMetadata = {}) => {
    const fromSdk = meta.sdkComponent === 'worker' || meta.sdkComponent === 'core';
    if (fromSdk && SDK_QUIET_BELOW.includes(level) && !base.isLevelEnabled('debug')) return;
    base[PINO_LEVEL[level]]({ ...meta }, message);
  };
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}
