import path from 'node:path';
import type { Config } from '../config';
import { startEmbeddedPostgres } from './postgres';
import { startTemporalDevServer } from './temporal';
import { startMailbox } from './mailbox';

export interface Stack {
  databaseUrl: string;
  temporalAddress: string;
  smtpUrl: string;
  temporalUiUrl?: string;
  mailInboxUrl?: string;
  /** Stops what this process started, newest first, naming each server to `progress` as it goes. */
  stop(progress?: (name: string) => void): Promise<void>;
}

/**
 * Starts an embedded server for each of DATABASE_URL, TEMPORAL_ADDRESS and
 * SMTP_URL that is unset; a set variable is used as it is.
 */
export async function startEmbeddedStack(config: Config, options: { temporalUi?: boolean; codecEndpoint?: string } = {}): Promise<Stack> {
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const stop = async (progress?: (name: string) => void) => {
    for (const s of stops.reverse()) {
      progress?.(s.name);
      await s.stop().catch(() => undefined);
    }
  };
  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      const pg = await startEmbeddedPostgres(path.join(config.dataDir, 'postgres'), config.embedded.postgresPort);
      stops.push({ name: 'PostgreSQL', stop: pg.stop });
      databaseUrl = pg.url;
    }
    let temporalAddress = config.temporal.address;
    let temporalUiUrl: string | undefined;
    if (!temporalAddress) {
      const temporal = await startTemporalDevServer({
        dataDir: config.dataDir,
        port: config.temporal.port,
        uiPort: config.temporal.uiPort,
        namespace: config.temporal.namespace,
        cliPath: config.temporal.cliPath,
        ui: options.temporalUi ?? true,
        codecEndpoint: options.codecEndpoint,
      });
      stops.push({ name: 'the Temporal dev server', stop: temporal.stop });
      temporalAddress = temporal.address;
      temporalUiUrl = temporal.uiUrl;
    }
    let smtpUrl = config.smtpUrl;
    let mailInboxUrl: string | undefined;
    if (!smtpUrl) {
      const mailbox = await startMailbox(config.dataDir, config.embedded.smtpPort, config.embedded.mailUiPort);
      stops.push({ name: 'the mail inbox', stop: mailbox.stop });
      smtpUrl = mailbox.smtpUrl;
      mailInboxUrl = mailbox.webUrl;
    }
    return { databaseUrl, temporalAddress, smtpUrl, temporalUiUrl, mailInboxUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
