// The free trial's JSON API (Toucan's /api/trial/*): registration, the auth
// service's calls, the operators' calls, the trial user's tokens.
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { ApiDeps } from '../../deps';
import { dbId, HttpError, parse } from '../http';
import { passwordSignIn, requireAccount, signedIn } from '../sessions';
import { safeEqual } from '../../shared/tokens';
import { issueEmbedToken, readTrialInfos, trialUsername } from '../../domain/trial';
import { creationBody, loginBody, optionalName, tokenField, trialFlow, usernameBody } from './flow';

/** The same answer for known and unknown addresses: registration never reveals who has an account. */
export const REGISTERED = { status: 'accepted', message: 'If this address can start a free trial, an email is on its way to it.' };

export const registerBody = z.object({ username: trialUsername, firstname: optionalName(100), lastname: optionalName(100), company: optionalName(200) });
export const verifyBody = z.object({ token: tokenField });
export const infosQuery = z.object({ username: trialUsername });
export const extendBody = z.object({ username: trialUsername, days: z.number({ error: 'must be a whole number of days.' }).int('must be a whole number of days.').min(1, 'must be at least 1.').max(365, 'must be at most 365.') });
/** Where the trial's service endpoints need no TRIAL_SERVICE_TOKEN: a development machine and the test suite. */
const OPEN_WITHOUT_SERVICE_TOKEN = ['development', 'test'];

export const embedBody = z.object({ username: trialUsername, appId: dbId });

export function trialRoutes(deps: ApiDeps): Router {
  const { config, db } = deps;
  const flow = trialFlow(deps);
  const router = new Router();

  /* ---- registration ---- */

  const register: Middleware = async (ctx) => {
    const body = parse(registerBody, ctx.request.body);
    await flow.register(body.username, { firstName: body.firstname, lastName: body.lastname, company: body.company });
    ctx.status = 202;
    ctx.body = REGISTERED;
  };
  router.post('/api/trial/register', register);
  router.post('/api/legacy/trial/register', register);

  /* ---- the auth service's calls ---- */

  /**
   * The trial's service endpoints answer the auth service (Keycloak's
   * authenticators): with TRIAL_SERVICE_TOKEN set, only a caller that sends
   * it in `X-Service-Token`. Without it they are open only on a development
   * machine or in the test suite; any other NODE_ENV (production, staging ...)
   * refuses every call. Without the credential every username gets the same
   * refusal.
   */
  const requireTrialService: Middleware = async (ctx, next) => {
    const expected = config.trialServiceToken;
    if (!expected) {
      if (!OPEN_WITHOUT_SERVICE_TOKEN.includes(config.nodeEnv)) {
        throw new HttpError(403, 'The trial service endpoints are disabled: the server has no TRIAL_SERVICE_TOKEN.', { code: 'service_disabled' });
      }
      return next();
    }
    const given = ctx.get('X-Service-Token');
    if (!given) throw new HttpError(401, 'Service credential required: send X-Service-Token.', { code: 'service_credential_required' });
    if (!safeEqual(given, expected)) throw new HttpError(403, 'The service credential is not valid.', { code: 'service_credential_invalid' });
    await next();
  };

  router.post('/api/trial/verify', requireTrialService, async (ctx) => {
    const { token } = parse(verifyBody, ctx.request.body);
    ctx.body = { username: (await flow.verifyToken(token)).username };
  });

  router.post('/api/trial/creation', requireTrialService, async (ctx) => {
    const body = parse(creationBody, ctx.request.body);
    const created = await flow.createAccount(body.token, body.password, body.firstname, body.lastname);
    ctx.status = 201;
    ctx.body = { username: created.username, appId: created.appId, trialEndsAt: created.trialEndsAt };
  });

  router.get('/api/trial/infos', requireTrialService, async (ctx) => {
    const { username } = parse(infosQuery, ctx.query);
    const infos = await readTrialInfos(db, username);
    if (!infos) throw new HttpError(404, 'No trial for this username.');
    ctx.body = infos;
  });

  /* ---- operators ---- */

  const requireOperator: Middleware = async (ctx, next) => {
    if (!config.adminToken) throw new HttpError(403, 'Operator endpoints are disabled: the server has no ADMIN_TOKEN.', { code: 'operator_disabled' });
    const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('Authorization'));
    if (!match) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new HttpError(401, 'Operator key required: send Authorization: Bearer <ADMIN_TOKEN>.');
    }
    if (!safeEqual(match[1], config.adminToken)) throw new HttpError(403, 'The operator key is not valid.');
    await next();
  };

  router.post('/api/trial/extend', requireOperator, async (ctx) => {
    const { username, days } = parse(extendBody, ctx.request.body);
    const { trialEndsAt } = await flow.extend(username, days);
    ctx.body = { username, status: 'active', trialEndsAt };
  });

  router.post('/api/trial/completion', requireOperator, async (ctx) => {
    const { username } = parse(usernameBody, ctx.request.body);
    await flow.complete(username);
    ctx.body = { username, status: 'converted' };
  });

  /* ---- the trial user ---- */

  router.post('/api/trial/login', async (ctx) => {
    const { username, password } = parse(loginBody, ctx.request.body);
    ctx.body = { accessToken: signedIn(await passwordSignIn(ctx, deps, username, password)), tokenType: 'Bearer' };
  });

  router.post('/api/trial/embed-token', requireTrialService, requireAccount(deps), async (ctx) => {
    const { username, appId } = parse(embedBody, ctx.request.body);
    ctx.body = await issueEmbedToken({ db, embedSigner: deps.embedSigner, ttlMs: config.ttl.embedToken, issuer: config.publicUrl }, { accountId: ctx.state.accountId as number, username, appId });
  });

  // The public keys that verify embed tokens (a JWK Set).
  router.get('/.well-known/jwks.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = deps.embedSigner.jwks();
  });

  return router;
}
