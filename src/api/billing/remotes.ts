// The API self-hosted Zulip servers call (the push-notification bouncer's
// paths): server registration, realm upload, billing access URLs.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ApiDeps } from '../../deps';
import { HttpError, parse } from '../http';
import { authenticateServer, issueAccessToken, realmOfServer, registerServer, upsertRealms } from '../../domain/billing';
import { NEXT_PAGES } from '../../workflows/billing/messages';
import { emailAddress } from '../../shared/mail';
import { isHostName } from '../../shared/links';

const serverUuid = z.uuid();
/** Realm hosts become links and redirects back to the self-hosted server: a bare host name, nothing else. */
const hostName = z.string().max(260).toLowerCase().refine(isHostName, 'must be a host name, optionally with a port.');
const serverKey = z.string().length(64, 'must be the 64-character server key');

export const serverRegistration = z.object({ zulip_org_id: serverUuid, zulip_org_key: serverKey, hostname: hostName, contact_email: emailAddress() });
export const realmUpload = z.object({ realms: z.array(z.object({ uuid: z.uuid(), host: hostName, name: z.string().min(1).max(200) })).max(1000) });
export const billingRequest = z.object({
  user: z.object({ uuid: z.uuid(), email: emailAddress(), full_name: z.string().max(100) }),
  realm: z.object({ uuid: z.uuid() }),
  uri_scheme: z.enum(['http://', 'https://']),
  next_page: z.enum(NEXT_PAGES).nullish(),
});

/** HTTP Basic auth: user = server UUID, password = server key. */
function basicCredentials(ctx: Context): { uuid: string; key: string } {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(ctx.get('Authorization'));
  const decoded = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon < 0) {
    ctx.set('WWW-Authenticate', 'Basic realm="zulip"');
    throw new HttpError(401, 'Authenticate with HTTP Basic auth: user = zulip_org_id, password = zulip_org_key.', { code: 'UNAUTHORIZED' });
  }
  const uuid = decoded.slice(0, colon);
  if (!serverUuid.safeParse(uuid).success) throw new HttpError(401, `"${uuid}" is not a server UUID.`, { code: 'INVALID_ZULIP_SERVER' });
  return { uuid, key: decoded.slice(colon + 1) };
}

export function billingRemoteRoutes({ db, config, signer }: ApiDeps): Router {
  const router = new Router({ prefix: '/api/v1/remotes/server' });

  router.post('/register', async (ctx) => {
    const body = parse(serverRegistration, ctx.request.body);
    const { created } = await registerServer(db, {
      uuid: body.zulip_org_id,
      key: body.zulip_org_key,
      hostname: body.hostname,
      contactEmail: body.contact_email.toLowerCase(),
    });
    ctx.body = { result: 'success', created };
  });

  router.post('/realms', async (ctx) => {
    const { uuid, key } = basicCredentials(ctx);
    const server = await authenticateServer(db, uuid, key);
    const body = parse(realmUpload, ctx.request.body);
    const realms = await upsertRealms(db, server, body.realms);
    ctx.body = { result: 'success', realms: realms.map((r) => ({ uuid: r.uuid, host: r.host, name: r.name })) };
  });

  router.post('/billing', async (ctx) => {
    const { uuid, key } = basicCredentials(ctx);
    const server = await authenticateServer(db, uuid, key);
    const body = parse(billingRequest, ctx.request.body);
    const realm = await realmOfServer(db, server, body.realm.uuid);
    const token = issueAccessToken(
      signer,
      {
        kind: 'realm',
        serverUuid: server.uuid,
        realmUuid: realm.uuid,
        userUuid: body.user.uuid,
        email: body.user.email,
        fullName: body.user.full_name,
        uriScheme: body.uri_scheme,
        nextPage: body.next_page ?? null,
      },
      config.ttl.billingAccessToken,
    );
    ctx.body = { result: 'success', billing_access_url: `${config.publicUrl}/remote-billing-login/${token}` };
  });

  return router;
}
