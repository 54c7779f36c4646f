import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { ApiDeps } from '../deps';
import { errorHandler } from './http';
import { requestDeadline } from './flows';
import { renderError } from './pages';
import { cookiePolicy } from './sessions';
import { healthRoutes } from './health';
import { openApiRoutes } from './openapi';
import { referencePages } from './reference';
import { trialRoutes } from './trial/routes';
import { trialPages } from './trial/pages';
import { accountRoutes } from './invitation/accounts';
import { invitationRoutes } from './invitation/routes';
import { invitationPages } from './invitation/pages';
import { billingRoutes, zulipAnswers } from './billing/routes';
import { billingPages } from './billing/pages';
import { codecEndpoint } from './codec';
import { countRefusals, observeRequests } from '../telemetry/http';

export type { ApiDeps };

/** The HTTP face of the flows: every route only translates HTTP into workflow calls and pages. */
export function createApp(deps: ApiDeps): Koa {
  // Only the entries the configured proxies appended count: the left-most ones are whatever the client wrote.
  const app = new Koa({ proxy: deps.config.trustProxyHops > 0, maxIpsCount: deps.config.trustProxyHops });
  app.silent = true; // errors are answered and logged by errorHandler
  app.use(observeRequests());
  // Every page names the product (APP_NAME), error pages too.
  app.use(async (ctx, next) => {
    ctx.state.appName = deps.config.appName;
    await next();
  });
  app.use(errorHandler(renderError));
  // One deadline per request, shared by every flow call it makes: a click answers within UPDATE_DEADLINE.
  app.use(requestDeadline(deps.config));
  app.use(countRefusals);
  app.use(cookiePolicy(deps.config));
  app.use(zulipAnswers);
  // Before the body parser: codec requests carry payloads larger than its limit, and read their own body.
  app.use(codecEndpoint(deps.config));
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
    openApiRoutes(),
    accountRoutes(deps),
    invitationRoutes(deps),
    invitationPages(deps),
    billingRoutes(deps),
    billingPages(deps),
    trialRoutes(deps),
    trialPages(deps),
    ...(deps.config.apiReference ? [referencePages()] : []),
  ];
  for (const router of routers) app.use(router.routes()).use(router.allowedMethods());
  return app;
}
