import type { Deps } from '../deps';
import { isUniqueViolation } from '../shared/db';
import { isRefusal, Refusal, refused } from '../shared/failures';
import { hashKey } from '../shared/tokens';
import { CONFIRMATION_KEY, confirmationLimitReached, confirmationSingleUse } from '../domain/billing';
import { BillingFailure, type BillingIdentity, type LoginConfirmation } from '../workflows/billing/messages';

/**
 * Side effects of the billing login. A server or organization deregistered
 * under a login in progress, or a limit reached, is a refusal, not a fault:
 * it comes back as a value.
 */
export function createBillingActivities({ config, db, mailer, signer }: Deps) {
  const loginEnded = (message: string) => refused(BillingFailure.billingUserNotFound, message);

  async function serverId(uuid: string): Promise<number | Refusal> {
    const server = await db.remoteZulipServer.findUnique({ where: { uuid } });
    return server ? server.id : loginEnded(`Server ${uuid} is not registered.`);
  }

  async function realmId(uuid: string): Promise<number | Refusal> {
    const realm = await db.remoteRealm.findUnique({ where: { uuid } });
    return realm ? realm.id : loginEnded(`Organization ${uuid} is not registered.`);
  }

  return {
    /**
     * Mails a single-use confirmation link. The key is a MAC over the
     * workflow run and the mail's sequence number, so a retry stores and
     * mails the same link instead of a second one; refused once a daily
     * limit is reached.
     */
    async sendConfirmationEmail(input: { workflowId: string; runId: string; identity: BillingIdentity; email: string; ip: string; sequence: number; expiresAt: number }): Promise<Refusal | void> {
      const { workflowId, runId } = input;
      const key = signer.sign(CONFIRMATION_KEY, { workflowId, runId, sequence: input.sequence }).hmac;
      const email = input.email.trim().toLowerCase();
      const keyHash = hashKey(key);
      const server = await serverId(input.identity.serverUuid);
      if (isRefusal(server)) return server;
      let limit: string | undefined;
      try {
        limit = await db.$transaction(async (tx) => {
          // A retried activity finds its own row: the limits were checked when it was stored.
          if (await tx.billingConfirmation.findUnique({ where: { keyHash } })) return undefined;
          // One request at a time per IP address and per server (always in this order), so two at once cannot both take the last mail.
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`billing-confirmation-ip:${input.ip}`}))`;
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`billing-confirmation-server:${server}`}))`;
          const reached = await confirmationLimitReached(tx, input.ip, server);
          if (reached) return reached;
          await tx.billingConfirmation.create({
            data: { keyHash, workflowId, runId, sequence: input.sequence, login: { ...input.identity }, email, serverId: server, ip: input.ip, expiresAt: new Date(input.expiresAt) },
          });
          return undefined;
        });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
      if (limit) return refused(BillingFailure.confirmationLimitReached, limit);
      const path = input.identity.kind === 'realm' ? 'remote-billing-login' : 'serverlogin';
      const hours = Math.round(config.ttl.billingConfirmation / 3600_000);
      await mailer.send({
        kind: 'billing-confirmation',
        key: `billing-login/${runId}/confirm/${input.sequence}`,
        to: email,
        subject: 'Confirm email for plan management',
        paragraphs: [
          input.identity.kind === 'realm'
            ? 'Someone asked to manage the plan of a self-hosted organization with this email address.'
            : 'Someone asked to manage the plan of a self-hosted server with this email address.',
          confirmationSingleUse(input.identity)
            ? `Click the link below to confirm your email and log in. The link can be used once and is valid for ${hours >= 1 ? `${hours} hours` : 'a short time'}.`
            : `Click the link below to confirm your email and log in. The link logs you in for ${hours >= 1 ? `${hours} hours` : 'a short time'}, as often as you need.`,
        ],
        action: { label: 'Confirm and log in', url: `${config.publicUrl}/${path}/do_confirm/${key}` },
        footer: 'If you did not ask for this, you can ignore this email.',
      });
    },

    /**
     * Uses a confirmation link: once for a realm login, where `claimId` (the
     * workflow update's ID) lets a retry of the same claim succeed again and
     * any other use is "used"; as often as needed until it expires for the
     * legacy login, whose link is reusable, as Zulip's is.
     */
    async claimConfirmation(input: { keyHash: string; claimId: string }): Promise<{ outcome: 'confirmed'; email: string } | { outcome: 'used' | 'expired' | 'unknown' }> {
      const now = new Date();
      const row = await db.billingConfirmation.findUnique({ where: { keyHash: input.keyHash } });
      if (!row) return { outcome: 'unknown' };
      const singleUse = confirmationSingleUse(row.login as unknown as BillingIdentity);
      const claimed = await db.billingConfirmation.updateMany({
        where: { keyHash: input.keyHash, expiresAt: { gt: now }, ...(singleUse ? { OR: [{ usedAt: null }, { usedBy: input.claimId }] } : {}) },
        // A reusable link keeps the time and update of its first use.
        data: singleUse ? { usedAt: now, usedBy: input.claimId } : { usedAt: row.usedAt ?? now, usedBy: row.usedBy ?? input.claimId },
      });
      if (claimed.count === 1) return { outcome: 'confirmed', email: row.email };
      const after = await db.billingConfirmation.findUnique({ where: { keyHash: input.keyHash } });
      return { outcome: after?.usedAt && singleUse ? 'used' : 'expired' };
    },

    /** Creates the billing user on first confirmation; a later confirmation finds the same one. */
    async recordConfirmedBillingUser({ identity }: { identity: BillingIdentity }): Promise<number | Refusal> {
      const email = identity.email.toLowerCase();
      if (identity.kind === 'realm') {
        const realm = await realmId(identity.realmUuid!);
        if (isRefusal(realm)) return realm;
        const user = await db.remoteRealmBillingUser.upsert({
          where: { realmId_userUuid: { realmId: realm, userUuid: identity.userUuid! } },
          create: { realmId: realm, userUuid: identity.userUuid!, email, fullName: identity.fullName },
          update: {},
        });
        return user.id;
      }
      const server = await serverId(identity.serverUuid);
      if (isRefusal(server)) return server;
      const user = await db.remoteServerBillingUser.upsert({
        where: { serverId_email: { serverId: server, email } },
        create: { serverId: server, email, fullName: identity.fullName },
        update: {},
      });
      return user.id;
    },

    /** The confirm-login form: details, release-email choices, accepted terms, time of login. */
    async recordBillingLogin(input: { identity: BillingIdentity } & LoginConfirmation): Promise<number | Refusal> {
      const { identity } = input;
      const data = {
        fullName: input.fullName,
        enableMajorReleaseEmails: input.enableMajorReleaseEmails,
        enableMaintenanceReleaseEmails: input.enableMaintenanceReleaseEmails,
        lastLogin: new Date(),
        ...(input.acceptedTosVersion ? { tosVersion: input.acceptedTosVersion } : {}),
      };
      if (identity.kind === 'realm') {
        const realm = await realmId(identity.realmUuid!);
        if (isRefusal(realm)) return realm;
        const where = { realmId_userUuid: { realmId: realm, userUuid: identity.userUuid! } };
        const user = await db.remoteRealmBillingUser.findUnique({ where });
        if (!user) return loginEnded('No billing user for this login.');
        return (await db.remoteRealmBillingUser.update({ where, data })).id;
      }
      const server = await serverId(identity.serverUuid);
      if (isRefusal(server)) return server;
      const where = { serverId_email: { serverId: server, email: identity.email.toLowerCase() } };
      const user = await db.remoteServerBillingUser.findUnique({ where });
      if (!user) return loginEnded('No billing user for this login.');
      return (await db.remoteServerBillingUser.update({ where, data })).id;
    },
  };
}
