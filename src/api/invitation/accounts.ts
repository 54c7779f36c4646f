// Synapse-style accounts, sign-in and teams (/repo/v1/account, /auth/v1,
// /repo/v1/team): what the invitation flow stands on.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ApiDeps } from '../../deps';
import { HttpError, parse, pathId, plainText } from '../http';
import { endSessions, issueAccessToken } from '../../shared/auth';
import { passwordSignIn, requireAccount, signedIn } from '../sessions';
import * as records from '../../domain/invitation';
import { invitationFlow, linkEndpoint, newUser, personName } from './flow';

export const accountSetupInfo = z.object({
  firstName: personName,
  lastName: personName,
  username: z.string().max(64),
  password: z.string().max(1024),
  emailValidationSignedToken: z.union([z.string().max(4096), z.record(z.string(), z.unknown())]),
  encodedMembershipInvtnSignedToken: z.string().max(4096).optional(),
});

export const login = z.object({ username: z.string().min(1).max(254), password: z.string().min(1).max(1024) });

export const TEAM_FOR_MEMBERS_AND_INVITEES = "Only the team's members and the accounts it invited may see it.";
export const MEMBERS_FOR_MEMBERS = "Only the team's members may see who is in it.";

export const teamBody = z.object({ name: plainText(100, { min: 1 }) });

function teamToApi(team: { id: number; name: string; createdBy: number; createdOn: Date }) {
  return { id: String(team.id), name: team.name, createdBy: String(team.createdBy), createdOn: team.createdOn.toISOString() };
}

export function accountRoutes(deps: ApiDeps): Router {
  const router = new Router();
  const auth = requireAccount(deps);
  const { db, config } = deps;
  const flow = invitationFlow(deps);

  router.post('/repo/v1/account/emailValidation', async (ctx) => {
    const user = parse(newUser, ctx.request.body);
    const portalEndpoint = linkEndpoint(config, 'accountCreation', ctx.query.portalEndpoint, 'portalEndpoint');
    await flow.requestRegistrationLink(user, portalEndpoint);
    ctx.status = 201;
    ctx.body = {};
  });

  router.post('/repo/v1/account', async (ctx) => {
    const setup = parse(accountSetupInfo, ctx.request.body);
    const { accountId } = await flow.createAccount(setup);
    ctx.status = 201;
    // A new account is in its first session generation.
    ctx.body = { accessToken: issueAccessToken(deps.signer, { id: accountId, sessionGeneration: 0 }) };
  });

  router.post('/auth/v1/login', async (ctx) => {
    const body = parse(login, ctx.request.body);
    ctx.body = { accessToken: signedIn(await passwordSignIn(ctx, deps, body.username, body.password)) };
  });

  // Ends every session of the account, this token's included.
  router.post('/auth/v1/logout', auth, async (ctx) => {
    await endSessions(db, ctx.state.accountId);
    ctx.status = 204;
  });

  router.post('/repo/v1/team', auth, async (ctx) => {
    const body = parse(teamBody, ctx.request.body);
    ctx.status = 201;
    ctx.body = teamToApi(await records.createTeam(db, body.name, ctx.state.accountId));
  });

  /** The team as the caller may see it (see readTeamFor): members see its members, an invitee the team alone. */
  async function teamFor(ctx: Context) {
    const seen = await records.readTeamFor(db, pathId(ctx.params.id, 'team'), ctx.state.accountId);
    if (!seen) throw new HttpError(404, 'There is no such team.');
    return seen;
  }

  router.get('/repo/v1/team/:id', auth, async (ctx) => {
    const { team, isMember, invitation } = await teamFor(ctx);
    if (!isMember && !invitation) throw new HttpError(403, TEAM_FOR_MEMBERS_AND_INVITEES);
    ctx.body = teamToApi(team);
  });

  router.get('/repo/v1/teamMembers/:id', auth, async (ctx) => {
    const { team, members } = await teamFor(ctx);
    if (!members) throw new HttpError(403, MEMBERS_FOR_MEMBERS);
    const teamId = team.id;
    ctx.body = {
      totalNumberOfResults: members.length,
      results: members.map(({ member, account }) => ({
        teamId: String(teamId),
        member: { ownerId: String(member.accountId), userName: account?.username ?? null, firstName: account?.firstName ?? null, lastName: account?.lastName ?? null },
        isAdmin: member.isAdmin,
      })),
    };
  });

  // Joining: yourself with an open invitation, or anyone when you are an admin.
  router.put('/repo/v1/team/:id/member/:principalId', auth, async (ctx) => {
    const teamId = pathId(ctx.params.id, 'team');
    const principalId = pathId(ctx.params.principalId, 'account');
    const caller: number = ctx.state.accountId;
    if (!(await records.findTeam(db, teamId))) throw new HttpError(404, 'There is no such team.');
    if (await records.isTeamAdmin(db, teamId, caller)) {
      if (!(await records.findAccount(db, principalId))) throw new HttpError(404, 'There is no such account.');
      await records.addTeamMember(db, teamId, principalId);
    } else {
      if (principalId !== caller) throw new HttpError(403, 'An invitation is required to join the team.');
      await flow.join(teamId, caller);
    }
    ctx.status = 204;
  });

  return router;
}
