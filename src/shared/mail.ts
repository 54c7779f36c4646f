import crypto from 'node:crypto';
import nodemailer, { Transporter } from 'nodemailer';
import escapeHtml from 'escape-html';
import { z } from 'zod';
import type { Db } from './db';
import { mailsFailed, mailsSent } from '../telemetry/metrics';
import { isUniqueViolation } from './db';

/**
 * An email address as every endpoint takes it: surrounding spaces dropped and
 * lower-cased, then only a plain ASCII address. Control characters, lists,
 * display names, quotes, backslashes and Unicode look-alikes are refused
 * rather than cleaned up, so the address checked is the address mailed.
 */
export function emailAddress(message = 'must be an email address.') {
  return z
    .string({ error: message })
    .max(1024, 'is too long.')
    .transform((value) => value.replace(/^ +| +$/g, ''))
    .pipe(z.string().max(254, 'is too long.').regex(/^[\x21-\x7e]+$/, message).toLowerCase().pipe(z.email({ error: message })));
}

/**
 * One logical email. `key` names it uniquely and stably (e.g.
 * "invitation/42/invite"): it becomes the Message-ID, so a send that runs
 * twice is recognisable, and the ledger row that stops a second send.
 */
export interface Email {
  kind: string;
  key: string;
  to: string;
  subject: string;
  /** Short paragraphs of plain text. */
  paragraphs: string[];
  action?: { label: string; url: string };
  /** A closing line in small print, e.g. why the mail was sent. */
  footer?: string;
  /**
   * Where the recipient stops mails of this kind: a link in the mail and the
   * `List-Unsubscribe` header (RFC 2369); `oneClick` when that URL takes
   * RFC 8058's one-click POST, so mail clients can offer their own button.
   */
  unsubscribe?: { url: string; oneClick: boolean };
}

export interface RenderedEmail {
  text: string;
  html: string;
}

const UNSUBSCRIBE_LINE = 'To get no more of these mails, open';

export function renderEmail(email: Pick<Email, 'subject' | 'paragraphs' | 'action' | 'footer' | 'unsubscribe'>): RenderedEmail {
  const text = [
    ...email.paragraphs,
    ...(email.action ? [`${email.action.label}:\n${email.action.url}`] : []),
    ...(email.footer || email.unsubscribe ? ['--'] : []),
    ...(email.footer ? [email.footer] : []),
    ...(email.unsubscribe ? [`${UNSUBSCRIBE_LINE}:\n${email.unsubscribe.url}`] : []),
  ].join('\n\n');
  const button = email.action
    ? `<p style="margin:24px 0"><a href="${escapeHtml(email.action.url)}" style="background:#2457d6;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none;display:inline-block">${escapeHtml(email.action.label)}</a></p>
<p style="font-size:12px;color:#555">If the button does not work, paste this address into your browser:<br>${escapeHtml(email.action.url)}</p>`
    : '';
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;max-width:560px;margin:auto;color:#1b1b1b">
<h2 style="font-weight:600">${escapeHtml(email.subject)}</h2>
${email.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}
${button}
${email.footer || email.unsubscribe ? '<hr>' : ''}${email.footer ? `<p style="font-size:12px;color:#555">${escapeHtml(email.footer)}</p>` : ''}
${email.unsubscribe ? `<p style="font-size:12px;color:#555">${UNSUBSCRIBE_LINE} <a href="${escapeHtml(email.unsubscribe.url)}">this page</a>.</p>` : ''}
</body></html>`;
  return { text, html };
}

export function messageIdFor(key: string, publicUrl: string): string {
  const host = new URL(publicUrl).hostname || 'localhost';
  return `<${crypto.createHash('sha256').update(key).digest('hex').slice(0, 32)}@${host}>`;
}

export class Mailer {
  private readonly transport: Transporter;

  constructor(
    smtpUrl: string,
    private readonly from: string,
    private readonly publicUrl: string,
    private readonly db: Db,
  ) {
    // Pooled: connections stay open between mails instead of a new SMTP handshake for each one.
    this.transport = nodemailer.createTransport({ url: smtpUrl, pool: true });
  }

  /**
   * Sends once per logical email. The ledger row is written after the SMTP
   * server accepted the message: a crash in between means one more send with
   * the same Message-ID, never a lost mail.
   */
  async send(email: Email): Promise<{ messageId: string; alreadySent: boolean }> {
    const messageId = messageIdFor(email.key, this.publicUrl);
    const sent = await this.db.sentEmail.findUnique({ where: { messageId } });
    if (sent) return { messageId, alreadySent: true };
    const { text, html } = renderEmail(email);
    try {
      await this.transport.sendMail({
        from: this.from,
        to: email.to,
        subject: email.subject,
        text,
        html,
        messageId,
        headers: {
          'X-Flowgate-Kind': email.kind,
          ...(email.unsubscribe ? { 'List-Unsubscribe': `<${email.unsubscribe.url}>` } : {}),
          ...(email.unsubscribe?.oneClick ? { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } : {}),
        },
      });
    } catch (err) {
      mailsFailed.inc({ kind: email.kind });
      throw err;
    }
    mailsSent.inc({ kind: email.kind });
    await this.recordSent({ messageId, kind: email.kind, recipient: email.to.toLowerCase(), subject: email.subject });
    return { messageId, alreadySent: false };
  }

  /**
   * The mail is out: its ledger row must be written even if the database is
   * away for a moment (a restart takes a second or two), or the activity's
   * retry would send the mail again. Waits up to about 8 s, well within the
   * send activities' 30 s timeout.
   */
  private async recordSent(data: { messageId: string; kind: string; recipient: string; subject: string }): Promise<void> {
    for (let wait = 250; ; wait *= 2) {
      try {
        await this.db.sentEmail.create({ data });
        return;
      } catch (err) {
        if (isUniqueViolation(err)) return;
        if (wait > 4000) throw err;
        await new Promise((r) => setTimeout(r, Math.min(wait, 4000)));
      }
    }
  }

  /** How many mails of a kind went to a recipient since a moment: the basis of send throttles. */
  countSentSince(kind: string, recipient: string, since: Date): Promise<number> {
    return this.db.sentEmail.count({ where: { kind, recipient: recipient.toLowerCase(), sentAt: { gte: since } } });
  }

  close(): void {
    this.transport.close();
  }
}
