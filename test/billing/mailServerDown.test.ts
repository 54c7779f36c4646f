import net from 'node:net';
import type { TestService } from '../support/service';
import { uniqueEmail } from '../support/mailbox';
import { billingAccessUrl, newUser, PageClient, randomIp, registerDemoServer, startBillingService } from './helpers';

/** A port that refuses connections, as a mail server that is down does. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  await new Promise((r) => server.close(r));
  return port;
}

describe('billing login while the mail server is down', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startBillingService({ SMTP_URL: `smtp://127.0.0.1:${await closedPort()}`, UPDATE_DEADLINE: '3s' });
  });
  afterAll(() => service.stop());

  it('answers 503 with Retry-After within the update deadline while the confirmation mail cannot be sent, and the login stays open for another try', async () => {
    const server = await registerDemoServer(service.baseUrl);
    const user = newUser(uniqueEmail('billing-mail-down'));
    const url = await billingAccessUrl(service.baseUrl, server, user);
    const client = new PageClient(service.baseUrl, { 'X-Forwarded-For': randomIp() });
    expect((await client.get(url)).status).toBe(200);
    const answer = await client.post(new URL(url).pathname + '/confirm/', { email: user.email });
    expect(answer.status).toBe(503);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(answer.text).toContain('try again in a moment');
    const handle = service.temporal.workflow.getHandle(`billing-login/${server.realm.uuid}/${user.uuid}`);
    expect((await handle.describe()).status.name).toBe('RUNNING');
  }, 60_000);
});
