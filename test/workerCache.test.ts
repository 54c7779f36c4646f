// The worker keeps only WORKER_MAX_CACHED_WORKFLOWS flows in memory: a flow it
// has evicted replays its history when a click wakes it, and carries on.
import { startService, TestService } from './support/service';
import { linkIn, uniqueEmail, waitForEmail } from './support/mailbox';
import { PageClient } from './support/pageClient';
import { ConfigError, loadConfig } from '../src/config';

describe('the worker bounds from the environment', () => {
  const base = { TOKEN_SECRET: 'c'.repeat(40), DATA_DIR: '/tmp/flowgate-config-test' };
  const problem = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
      return undefined;
    } catch (err) {
      if (err instanceof ConfigError) return err.variable;
      throw err;
    }
  };

  it('caches 1,000 flows unless told otherwise, and a smaller cache lowers the workflow task slots with it', () => {
    expect(loadConfig(base).worker).toEqual({ maxCachedWorkflows: 1000, maxConcurrentWorkflowTasks: 40, maxConcurrentActivities: 100 });
    expect(loadConfig({ ...base, WORKER_MAX_CACHED_WORKFLOWS: '10' }).worker.maxConcurrentWorkflowTasks).toBe(10);
  });

  it('names the variable of a bound the SDK would not take', () => {
    expect(problem({ WORKER_MAX_CACHED_WORKFLOWS: '1' })).toBe('WORKER_MAX_CACHED_WORKFLOWS');
    expect(problem({ WORKER_MAX_CACHED_WORKFLOWS: 'many' })).toBe('WORKER_MAX_CACHED_WORKFLOWS');
    expect(problem({ WORKER_MAX_CACHED_WORKFLOWS: '5', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '9' })).toBe('WORKER_MAX_CONCURRENT_WORKFLOW_TASKS');
    expect(problem({ WORKER_MAX_CONCURRENT_ACTIVITIES: '0' })).toBe('WORKER_MAX_CONCURRENT_ACTIVITIES');
  });
});

describe('a worker with a workflow cache smaller than the flows waiting', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService({ WORKER_MAX_CACHED_WORKFLOWS: '2', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '2' });
  });
  afterAll(() => service?.stop());

  /**
   * A registration, retried as its 503 asks. With two cached flows and the
   * machine busy, the SDK's core now and then evicts a run while its update's
   * answer is on the way (it logs "This is an SDK bug"); the update then waits
   * for the workflow task's timeout, and the request answers "try again in a
   * moment" meanwhile, with Retry-After. Any other answer ends the loop.
   */
  async function registerAsAPatientClient(email: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(`${service.baseUrl}/api/trial/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: email }) });
      if (res.status !== 503 || attempt === 3) return res.status;
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  }

  it('keeps as many flows cached as it was told', () => {
    expect(service.worker.options.maxCachedWorkflows).toBe(2);
  });

  it('takes the link click and the account creation of flows it evicted long ago', async () => {
    const emails = Array.from({ length: 5 }, () => uniqueEmail('cache'));
    for (const email of emails) expect(await registerAsAPatientClient(email)).toBeLessThan(300);
    const links = [];
    for (const email of emails) links.push(linkIn(await waitForEmail(email, /[Vv]erify/), `${service.baseUrl}/trial/register?token=`));
    // The first registered, evicted by the four after it, first.
    for (const link of links) {
      const browser = new PageClient(service.baseUrl);
      const form = await browser.get(link);
      expect(form.status).toBe(200);
      const token = new URL(link).searchParams.get('token')!;
      const ready = await browser.post('/trial/register', { token, password: 'Cache-pass-1!', confirmation: 'Cache-pass-1!' });
      expect(ready.status).toBe(201);
    }
  });
});
