// The team invitation's records and links, as the activities write them
// and the API reads them: token formats, read models, and the records no
// flow owns (teams, direct team membership, idempotency keys). Nothing here
// speaks HTTP.
import { createHash } from 'node:crypto';
import type { Db, Prisma } from '../shared/db';
import { isUniqueViolation } from '../shared/db';
import type { Config } from '../config';
import { DeadLink } from '../shared/links';
import { Signed, TokenError, TokenSigner } from '../shared/tokens';
import type { InvitationInput, InviteeVerificationSignedToken, MembershipInvitation } from '../workflows/invitation/messages';

/** Token types: bound by the MAC, so one kind never passes for another. */
export const MEMBERSHIP_INVITATION_TOKEN = 'MembershipInvtnSignedToken';
export const INVITEE_VERIFICATION_TOKEN = 'InviteeVerificationSignedToken';
export const EMAIL_VALIDATION_TOKEN = 'EmailValidationSignedToken';

export type MembershipInvtnSignedToken = Signed<{ membershipInvitationId: string; expiresOn: string; createdOn: string }>;
export type EmailValidationSignedToken = Signed<{ email: string; createdOn: string; expiresOn: string }>;

/** The unsigned envelope of the registration link (Synapse's AccountCreationToken). */
export interface AccountCreationToken {
  emailValidationSignedToken: EmailValidationSignedToken;
  encodedMembershipInvtnSignedToken?: string;
}

/** Where this service's own pages take emailed links when the client names no endpoint. */
export function defaultEndpoints(config: Config) {
  return {
    acceptInvitation: config.defaultLinkEndpoints.acceptInvitation,
    accountCreation: config.defaultLinkEndpoints.accountCreation,
    inviteeVerification: config.defaultLinkEndpoints.inviteeVerification,
    team: (teamId: number | string) => `${config.publicUrl}/join/team/${teamId}`,
    signIn: `${config.publicUrl}/join/sign-in`,
    passwordReset: `${config.publicUrl}/trial/password-reset`,
  };
}

/** Mail kinds of a registration, as the SentEmail ledger records them; both count towards the daily limit. */
export const RegistrationMail = { link: 'account-email-validation', accountExists: 'account-exists-notice' } as const;

/** Times of the registration mails an address got in the last day: a new registration flow starts counting from them. */
export async function registrationMailTimes(db: Db, email: string, now = Date.now()): Promise<string[]> {
  const rows = await db.sentEmail.findMany({
    where: { kind: { in: Object.values(RegistrationMail) }, recipient: email.toLowerCase(), sentAt: { gte: new Date(now - 24 * 3600_000) } },
    select: { sentAt: true },
    orderBy: { sentAt: 'asc' },
  });
  return rows.map((r) => r.sentAt.toISOString());
}

/**
 * When an invitation ends: its `expiresOn`. Invitations recorded without one
 * (before every invitation got one) end INVITATION_MAX_LIFETIME after creation.
 */
export function invitationEndsOn(config: Config, invitation: { createdOn: Date; expiresOn: Date | null }): Date {
  return invitation.expiresOn ?? new Date(invitation.createdOn.getTime() + config.ttl.invitationMaxLifetime);
}

/** The emailed link lives as long as the invitation; `issuedOn` (a resent mail's time) makes a fresh link for the same invitation. */
export function signMembershipInvitationToken(signer: TokenSigner, config: Config, invitation: { id: number; createdOn: Date; expiresOn: Date | null }, issuedOn = invitation.createdOn): MembershipInvtnSignedToken {
  return signer.sign(MEMBERSHIP_INVITATION_TOKEN, {
    membershipInvitationId: String(invitation.id),
    expiresOn: invitationEndsOn(config, invitation).toISOString(),
    createdOn: issuedOn.toISOString(),
  });
}

/* ---- unsubscribing from invitation notices (records no flow owns) ---- */

export const NOTIFICATION_UNSUBSCRIBE_TOKEN = 'NotificationUnsubscribeSignedToken';
export type NotificationUnsubscribeSignedToken = Signed<{ accountId: string; createdOn: string; expiresOn: string }>;

/** The unsubscribe link of an invitation notice: good for as long as an invitation can live, so an old notice's link still works. */
export function signNotificationUnsubscribe(signer: TokenSigner, config: Config, accountId: number, now = Date.now()): NotificationUnsubscribeSignedToken {
  return signer.sign(NOTIFICATION_UNSUBSCRIBE_TOKEN, {
    accountId: String(accountId),
    createdOn: new Date(now).toISOString(),
    expiresOn: new Date(now + config.ttl.invitationMaxLifetime).toISOString(),
  });
}

/** Verifies a NotificationUnsubscribeSignedToken, as an object or serialized (throws TokenError). */
export function verifyNotificationUnsubscribe(signer: TokenSigner, token: unknown): NotificationUnsubscribeSignedToken {
  return signer.verify<NotificationUnsubscribeSignedToken>(NOTIFICATION_UNSUBSCRIBE_TOKEN, typeof token === 'string' ? TokenSigner.parse(token) : token);
}

/** The unsubscribe link opened in a browser: the account it names, or a dead link. */
export async function readUnsubscribeLink(db: Db, signer: TokenSigner, serialized: string) {
  let token: NotificationUnsubscribeSignedToken;
  try {
    token = verifyNotificationUnsubscribe(signer, serialized);
  } catch (err) {
    throw deadToken(err, 'unsubscribe');
  }
  const account = await findAccount(db, Number(token.accountId));
  if (!account) throw new DeadLink('unknown', 'This account no longer exists.');
  return { account, optedOut: await hasOptedOutOfNotices(db, account.id) };
}

/** Idempotent: unsubscribing twice is unsubscribed. */
export async function recordNotificationOptOut(db: Db, accountId: number): Promise<void> {
  await db.notificationOptOut.upsert({ where: { accountId }, create: { accountId }, update: {} });
}

export async function hasOptedOutOfNotices(db: Db, accountId: number): Promise<boolean> {
  return (await db.notificationOptOut.count({ where: { accountId } })) > 0;
}

/** Verifies a MembershipInvtnSignedToken (throws TokenError); `id` binds it to the invitation named in a path. */
export function verifyInvitationToken(signer: TokenSigner, token: unknown, id?: number): MembershipInvtnSignedToken {
  const verified = signer.verify<MembershipInvtnSignedToken>(MEMBERSHIP_INVITATION_TOKEN, token);
  if (id !== undefined && verified.membershipInvitationId !== String(id)) {
    throw new TokenError('mismatch', 'The token was issued for another invitation.');
  }
  return verified;
}

/** True when `serialized` is a genuine, unexpired MembershipInvtnSignedToken for this invitation. */
export function holdsInvitationLink(signer: TokenSigner, serialized: string, invitationId: number): boolean {
  if (!serialized) return false;
  try {
    verifyInvitationToken(signer, TokenSigner.parse(serialized), invitationId);
    return true;
  } catch (err) {
    if (err instanceof TokenError) return false;
    throw err;
  }
}

/** Verifies an EmailValidationSignedToken, as an object or serialized (throws TokenError). */
export function verifyEmailValidationToken(signer: TokenSigner, token: unknown): EmailValidationSignedToken {
  const value = typeof token === 'string' ? TokenSigner.parse(token) : token;
  return signer.verify<EmailValidationSignedToken>(EMAIL_VALIDATION_TOKEN, value);
}

/* ---- links opened in the browser: what they open, or a dead link ---- */

/** A link's token that does not verify: expired, or unknown (changed, cut off, forged). */
function deadToken(err: unknown, what: string): DeadLink {
  if (!(err instanceof TokenError)) throw err;
  if (err.problem === 'expired') return new DeadLink('expired', `This ${what} link has expired.`, { text: 'Ask for a new one.' });
  return new DeadLink('unknown', `This ${what} link is not valid: it may have been changed or cut off.`, { text: 'Open it again from the mail.' });
}

/** An invitation that can no longer be used, as a dead link. */
function deadInvitation(reason: ClosedReason): DeadLink {
  return new DeadLink(reason === 'used' ? 'used' : 'expired', CLOSED_MESSAGES[reason], reason === 'used' ? { text: 'Members sign in to see the team:', href: '/join/teams', label: 'your teams' } : undefined);
}

/** The open invitation a genuine link names, or a dead link: none, withdrawn, used, expired. */
async function openInvitationOfLink(db: Db, membershipInvitationId: string) {
  const row = await findInvitation(db, Number(membershipInvitationId));
  if (!row) throw new DeadLink('unknown', 'This invitation does not exist.');
  const closed = closedReason(row);
  if (closed) throw deadInvitation(closed);
  return row;
}

/** A genuine invitation link whose time is over: closed with its invitation, or (links sent before links lived as long as their invitation) to be sent again. */
async function expiredInvitationLink(db: Db, serialized: string): Promise<DeadLink> {
  const id = (TokenSigner.parse(serialized) as { membershipInvitationId?: unknown }).membershipInvitationId;
  const row = typeof id === 'string' && /^\d{1,9}$/.test(id) ? await findInvitation(db, Number(id)) : null;
  const closed = row ? closedReason(row) : undefined;
  if (closed) return deadInvitation(closed);
  return new DeadLink('expired', 'This invitation link has expired.', { text: 'Ask the team admin to send the invitation again.' });
}

/** The invitation an emailed invitation link opens, with who invites to what; a dead link otherwise. */
export async function readInvitationLink(db: Db, signer: TokenSigner, serialized: string) {
  let token: MembershipInvtnSignedToken;
  try {
    token = verifyInvitationToken(signer, TokenSigner.parse(serialized));
  } catch (err) {
    // Genuine but past its time (expiry is checked after the MAC): the invitation says why, or the admin can send it again.
    if (err instanceof TokenError && err.problem === 'expired') throw await expiredInvitationLink(db, serialized);
    throw deadToken(err, 'invitation');
  }
  const row = await openInvitationOfLink(db, token.membershipInvitationId);
  const [team, inviter] = await Promise.all([findTeam(db, row.teamId), findAccount(db, row.createdBy)]);
  return { row, teamName: team?.name ?? `Team ${row.teamId}`, inviterName: inviter ? displayName(inviter) : 'A team admin' };
}

/** The registration link from the "Welcome" mail: its validated address and the invitation it carries. */
export function readAccountCreationLink(signer: TokenSigner, serialized: string): { validated: EmailValidationSignedToken; envelope: AccountCreationToken } {
  try {
    const envelope = TokenSigner.parse(serialized) as AccountCreationToken;
    return { validated: verifyEmailValidationToken(signer, envelope?.emailValidationSignedToken), envelope };
  } catch (err) {
    throw deadToken(err, 'registration');
  }
}

/** The identity-verification link (Synapse's phase 2), with the open invitation it is for. */
export async function readInviteeVerificationLink(db: Db, signer: TokenSigner, serialized: string) {
  let token: InviteeVerificationSignedToken;
  try {
    token = signer.parseAndVerify<InviteeVerificationSignedToken>(INVITEE_VERIFICATION_TOKEN, serialized);
  } catch (err) {
    throw deadToken(err, 'verification');
  }
  return { token, row: await openInvitationOfLink(db, token.membershipInvitationId) };
}

export function signInviteeVerification(signer: TokenSigner, config: Config, invitationId: number, inviteeId: number, now = Date.now()): InviteeVerificationSignedToken {
  return signer.sign(INVITEE_VERIFICATION_TOKEN, {
    inviteeId: String(inviteeId),
    membershipInvitationId: String(invitationId),
    expiresOn: new Date(now + config.ttl.inviteeVerification).toISOString(),
    createdOn: new Date(now).toISOString(),
  });
}

type InvitationRow = NonNullable<Awaited<ReturnType<Db['membershipInvitation']['findUnique']>>>;

/** Synapse's shape: ids as strings, absent fields left out. */
export function invitationToApi(row: InvitationRow): MembershipInvitation {
  return {
    id: String(row.id),
    teamId: String(row.teamId),
    ...(row.inviteeId !== null ? { inviteeId: String(row.inviteeId) } : {}),
    ...(row.inviteeEmail !== null ? { inviteeEmail: row.inviteeEmail } : {}),
    ...(row.message !== null ? { message: row.message } : {}),
    createdOn: row.createdOn.toISOString(),
    createdBy: String(row.createdBy),
    ...(row.expiresOn !== null ? { expiresOn: row.expiresOn.toISOString() } : {}),
    ...(row.joinedOn !== null ? { joinedOn: row.joinedOn.toISOString() } : {}),
  };
}

export type ClosedReason = 'withdrawn' | 'used' | 'expired';

/** Why an invitation can no longer be used, or undefined while it is open. */
export function closedReason(row: InvitationRow, now = new Date()): ClosedReason | undefined {
  if (row.revokedOn) return 'withdrawn';
  if (row.joinedOn) return 'used';
  if (row.expiredOn || (row.expiresOn && row.expiresOn <= now)) return 'expired';
  return undefined;
}

export const CLOSED_MESSAGES: Record<ClosedReason, string> = {
  withdrawn: 'This invitation was withdrawn by the team.',
  used: 'This invitation has already been used to join the team.',
  expired: 'This invitation has expired.',
};

/** Ids are allocated before the workflow starts, so the workflow ID can name the invitation. */
export async function allocateInvitationId(db: Db): Promise<number> {
  const [row] = await db.$queryRaw<{ id: number }[]>`SELECT nextval(pg_get_serial_sequence('"MembershipInvitation"', 'id'))::int AS id`;
  return row.id;
}

/** How long an `Idempotency-Key` answers with the invitation it created (the common convention: a day). */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600_000;

/** An invitation request as the API received it: the workflow input before an id is allocated. */
export type InvitationRequest = Omit<InvitationInput, 'invitationId'>;

/** Same request, same hash: every field that makes the invitation, in a fixed order. */
function requestHash({ invitationId: _id, ...request }: InvitationRequest & { invitationId?: number }): string {
  const sorted = Object.fromEntries(Object.entries(request).sort(([a], [b]) => a.localeCompare(b)));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

/**
 * What an earlier request with this caller's key created: its workflow input,
 * `'mismatch'` when that request was a different one, undefined when the key
 * is unknown or older than a day.
 */
export async function findKeyedInvitation(db: Db, callerId: number, key: string, request: InvitationRequest, now = Date.now()): Promise<InvitationInput | 'mismatch' | undefined> {
  const row = await db.invitationIdempotencyKey.findUnique({ where: { callerId_key: { callerId, key } } });
  if (!row || row.createdOn.getTime() <= now - IDEMPOTENCY_KEY_TTL_MS) return undefined;
  return row.requestHash === requestHash(request) ? (row.input as unknown as InvitationInput) : 'mismatch';
}

/**
 * Claims the key for `input` (made from `request`, with what the service
 * adds to it, such as a default expiry) before its workflow starts. When a
 * concurrent request claimed it first (the unique constraint decides),
 * answers with that request's input instead, or `'mismatch'`.
 */
export async function claimIdempotencyKey(db: Db, callerId: number, key: string, request: InvitationRequest, input: InvitationInput, now = Date.now()): Promise<InvitationInput | 'mismatch'> {
  // Keys past their day answer no more; they are cleared when their caller comes back.
  await db.invitationIdempotencyKey.deleteMany({ where: { callerId, createdOn: { lte: new Date(now - IDEMPOTENCY_KEY_TTL_MS) } } });
  try {
    await db.invitationIdempotencyKey.create({
      data: { callerId, key, requestHash: requestHash(request), invitationId: input.invitationId, input: input as unknown as Prisma.InputJsonObject },
    });
    return input;
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
  const earlier = await findKeyedInvitation(db, callerId, key, request, now);
  if (!earlier) throw new Error('An idempotency key was claimed and then vanished.');
  return earlier;
}

export function findInvitation(db: Db, id: number) {
  return db.membershipInvitation.findUnique({ where: { id } });
}

export function findAccount(db: Db, id: number) {
  return db.account.findUnique({ where: { id } });
}

export function findAccountByEmail(db: Db, email: string) {
  return db.account.findUnique({ where: { email: email.toLowerCase() } });
}

export function findTeam(db: Db, id: number) {
  return db.team.findUnique({ where: { id } });
}

export async function createTeam(db: Db, name: string, adminId: number) {
  return db.team.create({ data: { name, createdBy: adminId, members: { create: { accountId: adminId, isAdmin: true } } } });
}

export function teamMember(db: Db, teamId: number, accountId: number) {
  return db.teamMember.findUnique({ where: { teamId_accountId: { teamId, accountId } } });
}

export async function isTeamAdmin(db: Db, teamId: number, accountId: number): Promise<boolean> {
  return (await teamMember(db, teamId, accountId))?.isAdmin === true;
}

export async function listTeamMembers(db: Db, teamId: number) {
  const members = await db.teamMember.findMany({ where: { teamId }, orderBy: { joinedOn: 'asc' } });
  const accounts = await db.account.findMany({ where: { id: { in: members.map((m) => m.accountId) } } });
  const byId = new Map(accounts.map((a) => [a.id, a]));
  return members.map((m) => ({ member: m, account: byId.get(m.accountId) }));
}

/** An admin adding someone directly: not part of the invitation flow. Idempotent. */
export async function addTeamMember(db: Db, teamId: number, accountId: number): Promise<void> {
  try {
    await db.teamMember.create({ data: { teamId, accountId } });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
}

function openWhere(now: Date) {
  return { revokedOn: null, joinedOn: null, expiredOn: null, OR: [{ expiresOn: null }, { expiresOn: { gt: now } }] };
}

/** The caller's open invitation to a team: bound to them, not expired, not revoked, not used. */
export function openInvitationFor(db: Db, teamId: number, accountId: number, now = new Date()) {
  return db.membershipInvitation.findFirst({ where: { teamId, inviteeId: accountId, ...openWhere(now) }, orderBy: { id: 'asc' } });
}

export function openInvitations(db: Db, teamId: number, now = new Date()) {
  return db.membershipInvitation.findMany({ where: { teamId, ...openWhere(now) }, orderBy: { id: 'asc' } });
}

/** Counts of one set of invitations: what Synapse's design asks of them. */
function countsOf(invitations: InvitationRow[], events: { invitationId: number; kind: string }[]) {
  const ids = new Set(invitations.map((i) => i.id));
  const ofKind = (kind: string) => events.filter((e) => e.kind === kind && ids.has(e.invitationId)).length;
  return {
    created: invitations.length,
    boundViaNewAccount: invitations.filter((i) => i.boundVia === 'new_account').length,
    boundViaExistingAccount: invitations.filter((i) => i.boundVia === 'existing_account').length,
    emailValidationRequests: ofKind(InvitationEventKind.emailValidationRequested),
    verificationRefused: ofKind(InvitationEventKind.verificationRefused),
    joined: invitations.filter((i) => i.joinedOn).length,
    expired: invitations.filter((i) => i.expiredOn).length,
    revoked: invitations.filter((i) => i.revokedOn).length,
  };
}

/** Counted events the invitation row does not hold. */
export const InvitationEventKind = { verificationRefused: 'verification_refused', emailValidationRequested: 'email_validation_requested' } as const;

/**
 * The questions Synapse's design asks of invitations, for one team and for
 * each of its inviters: how many were created, how many invitees chose a new
 * account or signed in, how many registrations an invitation started, how
 * many verifications were refused (403), and when each was accepted.
 */
export async function invitationStatistics(db: Db, teamId: number) {
  const [invitations, events] = await Promise.all([
    db.membershipInvitation.findMany({ where: { teamId }, orderBy: { id: 'asc' } }),
    db.invitationEvent.findMany({ where: { teamId }, select: { invitationId: true, kind: true } }),
  ]);
  const inviters = [...new Set(invitations.map((i) => i.createdBy))].sort((a, b) => a - b);
  return {
    teamId: String(teamId),
    ...countsOf(invitations, events),
    byInviter: inviters.map((inviter) => ({ inviterId: String(inviter), ...countsOf(invitations.filter((i) => i.createdBy === inviter), events) })),
    // Who invited whom and when, how each was bound, and when it was accepted (joinedOn).
    invitations: invitations.map((i) => ({ ...invitationToApi(i), ...(i.boundVia ? { boundVia: i.boundVia } : {}) })),
  };
}

export function displayName(account: { firstName: string; lastName: string; username: string }): string {
  const full = `${account.firstName} ${account.lastName}`.trim();
  return full || account.username;
}

/** What the team page shows a signed-in account; undefined when there is no such team. */
/**
 * A team as one account may see it: a member sees its members; an invitee
 * (an open invitation bound to the account) sees the team alone, to join it;
 * anyone else is neither (`isMember` false, no `invitation`). Undefined: no
 * such team.
 */
export async function readTeamFor(db: Db, teamId: number, accountId: number) {
  const team = await findTeam(db, teamId);
  if (!team) return undefined;
  const [member, invitation] = await Promise.all([teamMember(db, teamId, accountId), openInvitationFor(db, teamId, accountId)]);
  return { team, isMember: !!member, invitation, members: member ? await listTeamMembers(db, teamId) : undefined };
}

/** The teams an account belongs to, and those it has an open invitation to. */
export async function readTeamsOf(db: Db, accountId: number) {
  const memberships = await db.teamMember.findMany({ where: { accountId } });
  const teams = await db.team.findMany({ where: { id: { in: memberships.map((m) => m.teamId) } }, orderBy: { id: 'asc' } });
  const invited = await db.membershipInvitation.findMany({ where: { inviteeId: accountId, joinedOn: null, revokedOn: null, expiredOn: null } });
  const invitedTeams = await db.team.findMany({ where: { id: { in: invited.map((i) => i.teamId) } } });
  return { teams, invitedTeams };
}
