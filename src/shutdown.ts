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
