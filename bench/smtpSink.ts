import { SMTPServer } from 'smtp-server';
import libqp from 'libqp';

export interface SinkMessage {
  to: string[];
  subject: string;
  messageId: string;
  text: string;
  receivedAt: number;
}

/**
 * A real SMTP server that keeps messages in memory and wakes whoever waits
 * for mail to an address. Only the plain-text part is decoded: that is where
 * the links are.
 */
export class SmtpSink {
  readonly messages: SinkMessage[] = [];
  private readonly waiters = new Map<string, Array<(m: SinkMessage) => boolean>>();
  private readonly byRecipient = new Map<string, SinkMessage[]>();
  private server?: SMTPServer;
  private port = 0;
  /** 'tempfail': the server answers 451 (try again later) to every mail, as a mail server does when overloaded. */
  private mode: 'up' | 'tempfail' = 'up';
  /** Mails refused with a temporary error while the server was failing. */
  tempFailures = 0;

  async listen(port: number): Promise<void> {
    this.port = port;
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      size: 1024 * 1024,
      onMailFrom: (_address, _session, callback) => {
        if (this.mode !== 'tempfail') return callback();
        this.tempFailures++;
        callback(Object.assign(new Error('Requested action aborted: try again later'), { responseCode: 451 }));
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
          this.receive(to, Buffer.concat(chunks).toString('utf8'));
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
  }

  private receive(to: string[], raw: string): void {
    const [head] = raw.split(/\r?\n\r?\n/, 1);
    const header = (name: string) => new RegExp(`^${name}:\\s*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(head)?.[1].replace(/\r?\n[ \t]/g, ' ').trim() ?? '';
    const textPart = /Content-Type: text\/plain[^]*?\r?\n\r?\n([^]*?)(?:\r?\n--|$)/i.exec(raw)?.[1] ?? '';
    const qp = /Content-Type: text\/plain[^]*?Content-Transfer-Encoding: quoted-printable/i.test(raw);
    const message: SinkMessage = {
      to,
      subject: header('Subject'),
      messageId: header('Message-ID'),
      text: qp ? libqp.decode(textPart).toString('utf8') : textPart,
      receivedAt: Date.now(),
    };
    this.messages.push(message);
    for (const address of to) {
      this.byRecipient.set(address, [...(this.byRecipient.get(address) ?? []), message]);
      const waiting = this.waiters.get(address) ?? [];
      this.waiters.set(address, waiting.filter((take) => !take(message)));
    }
  }

  /** The latest mail to `address` whose subject matches, waiting for it if none has come yet. */
  next(address: string, timeoutMs = 30_000, subject?: RegExp): Promise<SinkMessage> {
    const key = address.toLowerCase();
    const matches = (m: SinkMessage) => !subject || subject.test(m.subject);
    const already = this.byRecipient.get(key)?.filter(matches);
    if (already?.length) return Promise.resolve(already[already.length - 1]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no mail to ${address}${subject ? ` matching ${subject}` : ''} within ${timeoutMs} ms`)), timeoutMs);
      const waiter = (m: SinkMessage) => {
        if (!matches(m)) return false;
        clearTimeout(timer);
        resolve(m);
        return true;
      };
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), waiter]);
    });
  }

  /**
   * The mail server goes away: 'refuse' stops listening and drops the open
   * (pooled) connections, so connecting is refused; 'tempfail' listens again
   * but answers 451 to every mail; 'up' is back to normal.
   */
  async outage(mode: 'refuse' | 'tempfail' | 'up'): Promise<void> {
    if (mode === 'refuse') {
      const server = this.server;
      this.server = undefined;
      if (!server) return;
      const connections = (server as unknown as { connections: Set<{ _socket?: { destroy(): void } }> }).connections;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c._socket?.destroy();
      await closed;
      return;
    }
    this.mode = mode === 'tempfail' ? 'tempfail' : 'up';
    if (!this.server) await this.listen(this.port);
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
