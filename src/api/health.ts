import Router from '@koa/router';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { Contract, ok } from './contract';

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

export const healthContract: Contract = {
  tag: 'Operations',
  description: 'Probes for a process supervisor or a load balancer.',
  operations: {
    'GET /healthz': {
      summary: 'Liveness: the process answers',
      answers: { 200: ok('Alive.', z.strictObject({ status: z.literal('ok') })) },
      examples: { alive: { summary: 'Alive', status: 200, answer: { status: 'ok' } } },
    },
    'GET /readyz': {
      summary: 'Readiness: the database and Temporal answer',
      answers: {
        200: ok('Ready.', z.strictObject({ status: z.literal('ready') })),
        503: ok('Not ready; the reason names what did not answer within 3 seconds.', z.strictObject({ status: z.literal('unavailable'), reason: z.string() })),
      },
      examples: { ready: { summary: 'Ready', status: 200, answer: { status: 'ready' } } },
    },
  },
};
