import { ApplicationFailure } from '@temporalio/activity';
import type { Deps } from '../deps';
import { isUniqueViolation } from '../shared/db';
import { hashKey } from '../shared/tokens';
import { CONFIRMATION_KEY, confirmationLimitReached, confirmationSingleUse } from '../domain/billing';
import type { BillingIdentity, LoginConfirmation } from '../workflows/billing/messages';

export function createBillingActivities({ config, db, mailer, signer }: Deps) {
  async function serverId(uuid: string): Promise<number> {
    const server = await db.remoteZulipServer.findUnique({ where: { uuid } });
    if (!server) throw ApplicationFailure.nonRetryable(`Server ${uuid} is not registered.`, 'BillingUserNotFound');
    return server.id;
  }

  async function realmId(uuid: string): Promise<number> {
    const realm = await db.remoteRealm.findUnique({ where: { uuid } });
    if (!realm) throw ApplicationFailure.nonRetryable(`Organization ${uuid} is not registered.`, 'BillingUserNotFound');
    return realm.id;
  }

  return {
    /**
     * Mails a single-use confirmation link. The key is a MAC over the
     * workflow run and the mail's sequence number, so a retry stores and
     * mails the same link instead of a second one. A daily limit reached is
     * a refusal, not a fault: it comes back as a value.
     */
    async sendConfirmationEmail(input: { workflowId: string; runId: string; identity: BillingIdentity; email: string; ip: string; sequence: number; expiresAt: number }): Promise<{ refused?: string }> {
      const { workflowId, runId } = input;
      const key = signer.sign(CONFIRMATION_KEY, { workflowId, runId, sequence: input.sequence }).hmac;
      const email = input.email.trim().toLowerCase();
      const keyHash = hashKey(key);
      const server = await serverId(input.identity.serverUuid);
      let refused: string | undefined;
      try {
        refused = await db.$transaction(async (tx) => {
          // A retried activity finds its own row: the limits were checked when it was stored.
          if (await tx.billingConfirmation.findUnique({ where: { keyHash } })) return undefined;
          // One request at a time per IP address and per server (always in this order), so two at once cannot both take the last mail.
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`billing-confirmation-ip:${input.ip}`}))`;
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`billing-confirmation-server:${server}`}))`;
          const limit = await confirmationLimitReached(tx, input.ip, server);
          if (limit) return limit;
          await tx.billingConfirmation.create({
            data: { keyHash, workflowId, runId, sequence: input.sequence, login: { ...input.identity }, email, serverId: server, ip: input.ip, expiresAt: new Date(input.expiresAt) },
          });
          return undefined;
        });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
      if (refused) return { refused };
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
      return {};
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
    async recordConfirmedBillingUser({ identity }: { identity: BillingIdentity }): Promise<number> {
      const email = identity.email.toLowerCase();
      if (identity.kind === 'realm') {
        const realm = await realmId(identity.realmUuid!);
        const user = await db.remoteRealmBillingUser.upsert({
          where: { realmId_userUuid: { realmId: realm, userUuid: identity.userUuid! } },
          create: { realmId: realm, userUuid: identity.userUuid!, email, fullName: identity.fullName },
          update: {},
        });
        return user.id;
      }
      const server = await serverId(identity.serverUuid);
      const user = await db.remoteServerBillingUser.upsert({
        where: { serverId_email: { serverId: server, email } },
        create: { serverId: server, email, fullName: identity.fullName },
        update: {},
      });
      return user.id;
    },

    /** The confirm-login form: details, release-email choices, accepted terms, time of login. */
    async recordBillingLogin(input: { identity: BillingIdentity } & LoginConfirmation): Promise<number> {
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
        const where = { realmId_userUuid: { realmId: realm, userUuid: identity.userUuid! } };
        const user = await db.remoteRealmBillingUser.findUnique({ where });
        if (!user) throw ApplicationFailure.nonRetryable('No billing user for this login.', 'BillingUserNotFound');
        return (await db.remoteRealmBillingUser.update({ where, data })).id;
      }
      const where = { serverId_email: { serverId: await serverId(identity.serverUuid), email: identity.email.toLowerCase() } };
      const user = await db.remoteServerBillingUser.findUnique({ where });
      if (!user) throw ApplicationFailure.nonRetryable('No billing user for this login.', 'BillingUserNotFound');
      return (await db.remoteServerBillingUser.update({ where, data })).id;
    },
  };
}
