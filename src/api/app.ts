import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { Client } from '@temporalio/client';
import type { Deps } from '../deps';
import { errorHandler } from './http';
import { sendErrorPage } from './pages';
import { cookiePolicy } from './sessions';
import { healthRoutes } from './routes/health';
import { trialRoutes } from './routes/trial';
import { accountRoutes } from './routes/accounts';
import { invitationPages, invitationRoutes } from './routes/invitations';
import { billingPortalRoutes } from './routes/billing';
import { billingRemoteRoutes } from './routes/billingRemotes';

export interface ApiDeps extends Deps {
  temporal: Client;
}

/** The HTTP face of the flows: every route only translates HTTP into workflow calls and pages. */
export function createApp(deps: ApiDeps): Koa {
  // Only the entries the configured proxies appended count: the left-most ones are whatever the client wrote.
  const app = new Koa({ proxy: deps.config.trustProxyHops > 0, maxIpsCount: deps.config.trustProxyHops });
  app.silent = true; // errors are answered and logged by errorHandler
  app.use(errorHandler(sendErrorPage));
  app.use(cookiePolicy(deps.config));
  app.use(
    bodyParser({
      enableTypes: ['json', 'form'],
      jsonLimit: '64kb',
      formLimit: '64kb',
      encoding: 'utf-8',
    }),
  );
  const routers = [
    healthRoutes(deps),
    accountRoutes(deps),
    invitationRoutes(deps),
    invitationPages(deps),
    billingRemoteRoutes(deps),
    billingPortalRoutes(deps),
    trialRoutes(deps),
    // each flow adds its own router here
  ];
  for (const router of routers) app.use(router.routes()).use(router.allowedMethods());
  return app;
}
