import Router from '@koa/router';
import type { ApiDeps } from '../deps';

/** Liveness (the process answers) and readiness (its database and Temporal answer). */
export function healthRoutes({ db, temporal }: ApiDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const problems: string[] = [];
    const within = <T>(p: Promise<T>) =>
      Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), 3000))]);
    await within(db.$queryRaw`SELECT 1`).catch(() => problems.push('database unreachable'));
    await within(temporal.connection.workflowService.getSystemInfo({})).catch(() => problems.push('temporal unreachable'));
    ctx.status = problems.length ? 503 : 200;
    ctx.body = problems.length ? { status: 'unavailable', reason: problems.join(', ') } : { status: 'ready' };
  });
  return router;
}
