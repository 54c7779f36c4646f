// The team invitation's JSON API (Synapse's /repo/v1/membershipInvitation):
// create, retrieve with the emailed token, verify the invitee, bind,
// withdraw, list, statistics.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ApiDeps } from '../../deps';
import { dbId, HttpError, parse, pathId, plainText, tokenRefusal } from '../http';
import { requireAccount } from '../sessions';
import { emailAddress } from '../../shared/mail';
import * as records from '../../domain/invitation';
import type { InvitationInput, InviteeVerificationSignedToken, MembershipInvitation } from '../../workflows/invitation/messages';
import { invitationFlow, linkEndpoint } from './flow';

export const invitationSubmission = z
  .object({
    teamId: dbId,
    inviteeId: dbId.optional(),
    inviteeEmail: emailAddress().optional(),
    message: plainText(1000, { multiline: true }).optional(),
    expiresOn: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((s) => (s.inviteeId === undefined) !== (s.inviteeEmail === undefined), { message: 'Exactly one of inviteeId and inviteeEmail is required.' });

export const membershipInvtnSignedToken = z.object({ membershipInvitationId: z.string(), expiresOn: z.string(), createdOn: z.string(), hmac: z.string() }).loose();

export const inviteeVerificationToken = z.object({ inviteeId: z.string(), membershipInvitationId: z.string(), expiresOn: z.string(), createdOn: z.string(), hmac: z.string() }).loose();

/** The NotificationUnsubscribeSignedToken an invitation notice's unsubscribe link carries. */
export const notificationUnsubscribeToken = z.object({ accountId: z.string(), createdOn: z.string(), expiresOn: z.string(), hmac: z.string() }).loose();

export const statisticsQuery = z.object({ teamId: dbId });

/** The optional `Idempotency-Key` header: a retried POST with the same key creates nothing new. */
function idempotencyKey(ctx: Context): string | undefined {
  const value = ctx.get('Idempotency-Key');
  if (value === '') return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) throw new HttpError(400, 'Idempotency-Key: use 1 to 255 visible ASCII characters.');
  return value;
}

export function invitationRoutes(deps: ApiDeps): Router {
  const router = new Router({ prefix: '/repo/v1' });
  const auth = requireAccount(deps);
  const { db, config, signer } = deps;
  const flow = invitationFlow(deps);

  /** The invitation an earlier request with the same key created: its row once recorded, else from its workflow (started here if that request stopped short). */
  async function keyedInvitation(earlier: InvitationInput | 'mismatch'): Promise<MembershipInvitation> {
    if (earlier === 'mismatch') throw new HttpError(422, 'Idempotency-Key: this key was already used for a different request.');
    const row = await records.findInvitation(db, earlier.invitationId);
    return row ? records.invitationToApi(row) : flow.start(earlier);
  }

  async function requireTeamAdmin(teamId: number, accountId: number): Promise<void> {
    if (!(await records.findTeam(db, teamId))) throw new HttpError(404, 'There is no such team.');
    if (!(await records.isTeamAdmin(db, teamId, accountId))) throw new HttpError(403, 'Only a team admin may do this.');
  }

  router.post('/membershipInvitation', auth, async (ctx) => {
    const body = parse(invitationSubmission, ctx.request.body);
    const endpoint = linkEndpoint(config, 'acceptInvitation', ctx.query.acceptInvitationEndpoint, 'acceptInvitationEndpoint');
    // Named only when the caller named one, so a request's Idempotency-Key keeps matching its retries.
    const unsubscribe = ctx.query.notificationUnsubscribeEndpoint ? linkEndpoint(config, 'notificationUnsubscribe', ctx.query.notificationUnsubscribeEndpoint, 'notificationUnsubscribeEndpoint') : undefined;
    const caller: number = ctx.state.accountId;
    const key = idempotencyKey(ctx);
    const request: records.InvitationRequest = {
      teamId: body.teamId,
      createdBy: caller,
      ...(body.inviteeId !== undefined ? { inviteeId: body.inviteeId } : {}),
      ...(body.inviteeEmail ? { inviteeEmail: body.inviteeEmail.toLowerCase() } : {}),
      ...(body.message ? { message: body.message } : {}),
      ...(body.expiresOn ? { expiresOn: new Date(body.expiresOn).toISOString() } : {}),
      acceptInvitationEndpoint: endpoint,
      ...(unsubscribe ? { notificationUnsubscribeEndpoint: unsubscribe } : {}),
    };
    // A retry with the key answers with the first request's invitation, before checks whose outcome may have changed since.
    const earlier = key ? await records.findKeyedInvitation(db, caller, key, request) : undefined;
    if (earlier) {
      ctx.status = 201;
      ctx.body = await keyedInvitation(earlier);
      return;
    }
    await requireTeamAdmin(body.teamId, caller);
    if (body.expiresOn && Date.parse(body.expiresOn) <= Date.now()) throw new HttpError(400, 'expiresOn: must be in the future.');
    if (body.expiresOn && Date.parse(body.expiresOn) > Date.now() + config.ttl.invitationMaxLifetime) {
      throw new HttpError(400, `expiresOn: must be within ${Math.round(config.ttl.invitationMaxLifetime / 86_400_000)} days (INVITATION_MAX_LIFETIME).`);
    }
    if (body.inviteeId !== undefined) {
      if (!(await records.findAccount(db, body.inviteeId))) throw new HttpError(400, 'inviteeId: there is no such account.');
      if (await records.teamMember(db, body.teamId, body.inviteeId)) throw new HttpError(409, 'The invitee is already a member of the team.');
    }
    // An invitation asked for without an end still ends: INVITATION_MAX_LIFETIME from now, and its link with it.
    const input = { ...request, expiresOn: request.expiresOn ?? new Date(Date.now() + config.ttl.invitationMaxLifetime).toISOString(), invitationId: await records.allocateInvitationId(db) };
    const claimed = key ? await records.claimIdempotencyKey(db, caller, key, request, input) : input;
    ctx.status = 201;
    ctx.body = claimed === input ? await flow.start(input) : await keyedInvitation(claimed);
  });

  // As Keycloak's and Auth0's "resend": a fresh link for an invitee who lost the mail.
  router.post('/membershipInvitation/:id/resend', auth, async (ctx) => {
    const invitationId = pathId(ctx.params.id, 'invitation');
    const row = await records.findInvitation(db, invitationId);
    if (!row) throw new HttpError(404, 'There is no such invitation.');
    await requireTeamAdmin(row.teamId, ctx.state.accountId);
    await flow.resend(invitationId);
    // As it stands now (bound to its invitee, perhaps), not as the flow first recorded it.
    ctx.body = records.invitationToApi((await records.findInvitation(db, invitationId))!);
  });

  router.get('/membershipInvitation/statistics', auth, async (ctx) => {
    const { teamId } = parse(statisticsQuery, ctx.query);
    await requireTeamAdmin(teamId, ctx.state.accountId);
    ctx.body = await records.invitationStatistics(db, teamId);
  });

  // Retrieve an invitation as the holder of its emailed token.
  router.post('/membershipInvitation/:id', async (ctx) => {
    const invitationId = pathId(ctx.params.id, 'invitation');
    const token = parse(membershipInvtnSignedToken, ctx.request.body);
    try {
      records.verifyInvitationToken(signer, token, invitationId);
    } catch (err) {
      tokenRefusal(err);
    }
    const row = await records.findInvitation(db, invitationId);
    if (!row) throw new HttpError(404, 'There is no such invitation.');
    const closed = records.closedReason(row);
    if (closed === 'withdrawn') throw new HttpError(410, records.CLOSED_MESSAGES.withdrawn);
    if (closed === 'expired') throw new HttpError(403, records.CLOSED_MESSAGES.expired);
    ctx.body = records.invitationToApi(row);
  });

  /**
   * Only the invitee may start an identity verification: an account with the
   * invited address, or whoever holds the emailed link (its serialized token
   * in `X-Invitation-Token`). Anyone else gets one answer, whatever the
   * invitation's state or existence, and nothing is mailed or counted.
   */
  router.get('/membershipInvitation/:id/inviteeVerificationSignedToken', auth, async (ctx) => {
    const invitationId = pathId(ctx.params.id, 'invitation');
    const portalEndpoint = linkEndpoint(config, 'inviteeVerification', ctx.query.portalEndpoint, 'portalEndpoint');
    const answer = await flow.requestVerificationAsInvitee(invitationId, ctx.state.accountId, portalEndpoint, ctx.get('X-Invitation-Token'));
    if (!answer.verified) {
      const sent = answer.mailed ? ' A verification link was sent to the invited address.' : '';
      throw new HttpError(403, `The signed-in account does not have the invited email address.${sent}`, { verificationEmailSent: answer.mailed });
    }
    ctx.body = answer.token;
  });

  router.put('/membershipInvitation/:id/inviteeId', auth, async (ctx) => {
    const invitationId = pathId(ctx.params.id, 'invitation');
    const body = parse(inviteeVerificationToken, ctx.request.body);
    let token: InviteeVerificationSignedToken;
    try {
      token = signer.verify<InviteeVerificationSignedToken>(records.INVITEE_VERIFICATION_TOKEN, body);
    } catch (err) {
      tokenRefusal(err);
    }
    if (token.membershipInvitationId !== String(invitationId)) throw new HttpError(400, 'The token is for another invitation than the one in the path.');
    if (token.inviteeId !== String(ctx.state.accountId)) throw new HttpError(403, 'The token was issued to another account.');
    if (!(await records.findInvitation(db, invitationId))) throw new HttpError(404, 'There is no such invitation.');
    ctx.body = await flow.bind(invitationId, ctx.state.accountId, 'existing_account', 403);
  });

  router.delete('/membershipInvitation/:id', auth, async (ctx) => {
    const invitationId = pathId(ctx.params.id, 'invitation');
    const row = await records.findInvitation(db, invitationId);
    if (!row) throw new HttpError(404, 'There is no such invitation.');
    const caller: number = ctx.state.accountId;
    const account = await records.findAccount(db, caller);
    const mayRevoke = row.inviteeId === caller || (row.inviteeEmail !== null && account?.email === row.inviteeEmail) || (await records.isTeamAdmin(db, row.teamId, caller));
    if (!mayRevoke) throw new HttpError(403, 'Only a team admin or the invitee may withdraw this invitation.');
    await flow.revoke(invitationId, caller);
    ctx.status = 204;
  });

  /** What a client's own unsubscribe page (notificationUnsubscribeEndpoint) calls with the token from the link. */
  router.post('/notificationUnsubscribe', async (ctx) => {
    let token: records.NotificationUnsubscribeSignedToken;
    try {
      token = records.verifyNotificationUnsubscribe(signer, parse(notificationUnsubscribeToken, ctx.request.body));
    } catch (err) {
      tokenRefusal(err);
    }
    if (!(await records.findAccount(db, Number(token.accountId)))) throw new HttpError(404, 'There is no such account.');
    await records.recordNotificationOptOut(db, Number(token.accountId));
    ctx.status = 204;
  });

  router.get('/team/:id/openInvitation', auth, async (ctx) => {
    const teamId = pathId(ctx.params.id, 'team');
    await requireTeamAdmin(teamId, ctx.state.accountId);
    const rows = await records.openInvitations(db, teamId);
    ctx.body = { totalNumberOfResults: rows.length, results: rows.map(records.invitationToApi) };
  });

  return router;
}
