// A click while no worker runs, or while its worker is killed: the person gets
// a bounded answer ("try again in a moment"), and the same click retried gets
// the answer the first one got once a worker is back, however often it is
// retried.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import type { TestService } from '../support/service';
import { billingAccessUrl, newUser, PageClient, registerDemoServer, startBillingService } from './helpers';

const DEADLINE_MS = 2000;
const ROOT = path.resolve(__dirname, '..', '..');

describe('a confirmation click while the workers are down', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startBillingService({ UPDATE_DEADLINE: `${DEADLINE_MS}ms` });
  });
  afterAll(() => service?.stop());

  /** A login waiting for its confirmation click: the person, the server and the link in the mail. */
  async function awaitingClick(name: string) {
    const server = await registerDemoServer(service.baseUrl);
    const email = uniqueEmail(name);
    const client = new PageClient(service.baseUrl);
    const url = await billingAccessUrl(service.baseUrl, server, newUser(email));
    const form = await client.get(url.slice(service.baseUrl.length));
    expect((await client.submit(form, { email })).status).toBe(200);
    const link = linkIn(await waitForEmail(email, 'Confirm email for plan management'), `${service.baseUrl}/remote-billing-login/do_confirm/`);
    return { server, email, client, link };
  }

  /** Once a worker is back: the person retries until the answer comes (the first click's update, not a second one), and every later retry gets the same. */
  async function retriedClicksAgree({ server, email, client, link }: Awaited<ReturnType<typeof awaitingClick>>) {
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
  }

  it('answers within its deadline, then gives every retry of the same link the first answer', async () => {
    const login = await awaitingClick('workerdown');
    await service.stopWorker();
    const started = Date.now();
    const waiting = await login.client.get(login.link);
    const elapsed = Date.now() - started;
    expect(waiting.status).toBe(503);
    expect(waiting.headers.get('retry-after')).toBe('5');
    expect(waiting.h1).toBe('Please try again in a moment');
    expect(elapsed).toBeLessThan(DEADLINE_MS + 3000);

    await service.startWorker();
    await retriedClicksAgree(login);
  }, 120_000);

  /** Until the worker process `pid` polls the service's task queue (its identity is pid@host). */
  async function pollingFrom(pid: number) {
    const { namespace, taskQueue } = service.config.temporal;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      const { pollers } = await service.temporal.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType: 1 });
      if (pollers?.some((p) => p.identity?.startsWith(`${pid}@`))) return;
    }
    throw new Error(`worker ${pid} never polled ${taskQueue}`);
  }

  it('answers within its deadline when the worker process is killed during the click, and retries get the first answer', async () => {
    // The flows' worker as a process of its own (npm run worker), on the service's task queue.
    await service.stopWorker();
    const worker = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
      cwd: ROOT,
      env: { ...process.env, TEMPORAL_TASK_QUEUE: service.config.temporal.taskQueue, PUBLIC_URL: service.baseUrl, METRICS_ADDRESS: 'off' },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    try {
      await pollingFrom(worker.pid!);
      const login = await awaitingClick('workerkilled');
      const started = Date.now();
      const click = login.client.get(login.link);
      // SIGKILL while the click is on its way: the flow sits in the killed worker's cache, and the
      // server must find that worker gone (no graceful shutdown tells it) before another takes the flow.
      worker.kill('SIGKILL');
      const first = await click;
      const elapsed = Date.now() - started;
      expect(elapsed).toBeLessThan(DEADLINE_MS + 3000);
      // Either the worker finished the step before it died, or the person is told to try again.
      expect([303, 503]).toContain(first.status);
      if (first.status === 503) expect(first.h1).toBe('Please try again in a moment');

      await service.startWorker();
      await retriedClicksAgree(login);
    } finally {
      worker.kill('SIGKILL');
      await exited;
    }
  }, 180_000);
});
