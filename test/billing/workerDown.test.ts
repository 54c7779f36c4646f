// A click while no worker runs: the person gets a bounded answer ("try again
// in a moment"), and the same click retried gets the answer the first one got
// once a worker is back, however often it is retried.
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import type { TestService } from '../support/service';
import { billingAccessUrl, newUser, PageClient, registerDemoServer, startBillingService } from './helpers';

const DEADLINE_MS = 2000;

describe('a confirmation click while the workers are down', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startBillingService({ UPDATE_DEADLINE: `${DEADLINE_MS}ms` });
  });
  afterAll(() => service?.stop());

  it('answers within its deadline, then gives every retry of the same link the first answer', async () => {
    const server = await registerDemoServer(service.baseUrl);
    const email = uniqueEmail('workerdown');
    const client = new PageClient(service.baseUrl);
    const url = await billingAccessUrl(service.baseUrl, server, newUser(email));
    const form = await client.get(url.slice(service.baseUrl.length));
    expect((await client.submit(form, { email })).status).toBe(200);
    const link = linkIn(await waitForEmail(email, 'Confirm email for plan management'), `${service.baseUrl}/remote-billing-login/do_confirm/`);

    await service.stopWorker();
    const started = Date.now();
    const waiting = await client.get(link);
    const elapsed = Date.now() - started;
    expect(waiting.status).toBe(503);
    expect(waiting.headers.get('retry-after')).toBe('5');
    expect(waiting.h1).toBe('Please try again in a moment');
    expect(elapsed).toBeLessThan(DEADLINE_MS + 3000);

    await service.startWorker();
    // The person retries until the answer comes: the first click's update, not a second one.
    let answer = await client.get(link);
    for (const deadline = Date.now() + 60_000; answer.status === 503 && Date.now() < deadline; ) answer = await client.get(link);
    expect(answer.status).toBe(303);
    const again = await client.get(link);
    expect(again.status).toBe(303);
    // Back to the access URL with a fresh token, as the first answer was.
    expect(again.location).toMatch(/^\/remote-billing-login\/[A-Za-z0-9_-]+$/);
    expect(answer.location).toMatch(/^\/remote-billing-login\/[A-Za-z0-9_-]+$/);
    expect((await client.follow(again)).h1).toBe('Confirm login');
    // One claim of the link, one billing user.
    const realm = await service.db.remoteRealm.findUniqueOrThrow({ where: { uuid: server.realm.uuid } });
    expect(await service.db.remoteRealmBillingUser.count({ where: { realmId: realm.id, email } })).toBe(1);
  }, 120_000);
});
