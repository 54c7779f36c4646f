import path from 'node:path';
import { assertPortFree, startService, ServiceHandle } from './process';

export interface MailboxHandle extends ServiceHandle {
  smtpUrl: string;
  webUrl: string;
}

/**
 * MailDev, a local SMTP server with a web inbox where a person reads mail and
 * clicks links. It runs as its own process because its library form installs
 * signal handlers that would exit this one.
 */
export async function startMailbox(dataDir: string, smtpPort: number, webPort: number): Promise<MailboxHandle> {
  await assertPortFree('MAIL_SMTP_PORT', smtpPort);
  await assertPortFree('MAIL_UI_PORT', webPort);
  const bin = path.join(path.dirname(require.resolve('maildev/package.json')), 'bin', 'maildev');
  const service = await startService({
    name: 'mail inbox',
    command: process.execPath,
    args: [bin, '--smtp', String(smtpPort), '--web', String(webPort), '--ip', '127.0.0.1', '--silent'],
    port: webPort,
    logFile: path.join(dataDir, 'logs', 'maildev.log'),
  });
  return { ...service, smtpUrl: `smtp://127.0.0.1:${smtpPort}`, webUrl: `http://localhost:${webPort}` };
}
