/** Reads mail that really went through SMTP, from the MailDev inbox started by globalSetup. */
export interface ReceivedEmail {
  id: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  to: { address: string; name: string }[];
  headers: Record<string, string>;
  date: string;
}

function inboxUrl(): string {
  const url = process.env.MAIL_INBOX_URL;
  if (!url) throw new Error('MAIL_INBOX_URL is not set: run tests through jest (globalSetup starts the inbox)');
  return url;
}

export async function allEmails(): Promise<ReceivedEmail[]> {
  const res = await fetch(`${inboxUrl()}/email`);
  if (!res.ok) throw new Error(`inbox answered ${res.status}`);
  return (await res.json()) as ReceivedEmail[];
}

export async function emailsTo(address: string, subject?: string | RegExp): Promise<ReceivedEmail[]> {
  const wanted = address.toLowerCase();
  return (await allEmails()).filter(
    (m) =>
      m.to.some((t) => t.address.toLowerCase() === wanted) &&
      (subject === undefined || (typeof subject === 'string' ? m.subject === subject : subject.test(m.subject))),
  );
}

/** Waits (polling the inbox, no fixed sleep) until `count` matching mails have arrived; returns them oldest first. */
export async function waitForEmails(address: string, subject?: string | RegExp, count = 1, timeoutMs = 20_000): Promise<ReceivedEmail[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await emailsTo(address, subject);
    if (found.length >= count) return found;
    if (Date.now() > deadline) {
      throw new Error(`expected ${count} mail(s) to ${address}${subject ? ` with subject ${subject}` : ''}, got ${found.length}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function waitForEmail(address: string, subject?: string | RegExp, timeoutMs?: number): Promise<ReceivedEmail> {
  const mails = await waitForEmails(address, subject, 1, timeoutMs);
  return mails[mails.length - 1];
}

/** The first link in the mail's text part that starts with `prefix`. */
export function linkIn(email: ReceivedEmail, prefix: string): string {
  const link = email.text.match(/https?:\/\/\S+/g)?.find((l) => l.startsWith(prefix));
  if (!link) throw new Error(`no link starting with ${prefix} in mail "${email.subject}":\n${email.text}`);
  return link;
}

/** A unique address per test, so tests never read each other's mail. */
export function uniqueEmail(tag = 'user'): string {
  return `${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.test`;
}
