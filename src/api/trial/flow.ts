// The free trial's workflows as the API reaches them: one function per
// request, each one workflow call through src/api/flows.ts.
import type { ApiDeps } from '../../deps';
import { z } from 'zod';
import { FlowRefusal, HttpError, plainText } from '../http';
import { keyOf, startOrUpdate, updateFlow } from '../flows';
import { hashPassword, issueAccessToken, passwordProblem, signIn } from '../../shared/auth';
import { passwordResetMailTimes, readPasswordResetToken, readTrialInfos, readVerificationToken, registrationMailTimes, trialLinkDead, trialUsername } from '../../domain/trial';
import {
  chooseNewPasswordUpdate,
  completeTrialUpdate,
  createTrialAccountUpdate,
  extendTrialUpdate,
  passwordResetWorkflowId,
  PASSWORD_RESET_TTL_MS,
  RegistrationRequest,
  requestPasswordResetUpdate,
  requestVerificationEmailUpdate,
  TrialFailure,
  trialSearchAttributes,
  trialDescription,
  passwordResetDescription,
  trialWorkflowId,
  verifyTokenUpdate,
} from '../../workflows/trial/messages';

/* ---- what the requests carry, as the JSON API and the pages both take it ---- */

export const optionalName = (max: number) => plainText(max).optional();
export const tokenField = z.string({ error: 'is required.' }).trim().min(1, 'is required.').max(4096, 'is too long.');
export const creationBody = z.object({ token: tokenField, password: z.string({ error: 'is required.' }).max(1024, 'is too long.'), firstname: optionalName(100), lastname: optionalName(100) });
export const usernameBody = z.object({ username: trialUsername });
export const loginBody = z.object({ username: z.string({ error: 'is required.' }).trim().min(1, 'is required.').max(254), password: z.string({ error: 'is required.' }).max(1024) });

export function trialFlow(deps: ApiDeps) {
  const { config, db, signer } = deps;

  /** A verification link whose flow has ended: it expired unused, or its trial is over. */
  const linkEnded = () => trialLinkDead('expired', 'This link can no longer be used.');

  /** The workflow's verdict on a link (replaced, expired, used) is a dead link like any other. */
  async function onLink<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof FlowRefusal && err.is(TrialFailure.tokenUsed)) throw trialLinkDead('used', err.reason);
      if (err instanceof FlowRefusal && err.is(TrialFailure.tokenExpired)) throw trialLinkDead('expired', err.reason);
      throw err;
    }
  }

  /** Extend or complete on a trial whose flow has ended: say what it is instead. */
  async function closedTrial(username: string): Promise<HttpError> {
    const infos = await readTrialInfos(db, username);
    if (!infos) return new HttpError(404, 'No trial for this username.');
    return new HttpError(409, `The trial is ${infos.status.replace('_', ' ')} and can no longer change.`, { code: TrialFailure.notRunning.code, status: infos.status });
  }

  async function checkedPasswordHash(password: string): Promise<string> {
    const weak = passwordProblem(password);
    if (weak) throw new HttpError(400, `password: ${weak}`);
    // Only the hash goes to the workflow: the password itself never reaches Temporal's history.
    return hashPassword(password);
  }

  async function createWithHash(token: string, password: string, firstName?: string, lastName?: string) {
    const { email, tokenHash } = readVerificationToken(signer, token);
    const passwordHash = await checkedPasswordHash(password);
    // Keyed by the link: a retried "Create my account" gets the account the first one created.
    const created = await onLink(() => updateFlow(deps, TrialFailure, trialWorkflowId(email), createTrialAccountUpdate, [{ tokenHash, passwordHash, firstName, lastName }], linkEnded, keyOf('create-trial-account', tokenHash)));
    return { created, passwordHash };
  }

  return {
    /**
     * Register (again): the address's trial decides between a verification
     * mail, a resend and "welcome back"; every address gets the same answer.
     */
    async register(email: string, request: RegistrationRequest): Promise<void> {
      await startOrUpdate(
        deps,
        TrialFailure,
        {
          workflowType: 'trialWorkflow',
          workflowId: trialWorkflowId(email),
          args: [
            {
              email,
              firstName: request.firstName ?? '',
              lastName: request.lastName ?? '',
              company: request.company ?? '',
              verificationTtlMs: config.ttl.trialVerification,
              trialLengthMs: config.ttl.trialLength,
              reminderBeforeMs: config.ttl.trialReminderBefore,
              mailOnRequest: true,
              priorMailTimes: await registrationMailTimes(db, email),
            },
          ],
          searchAttributes: trialSearchAttributes(email, 'awaiting_verification', Date.now() + config.ttl.trialVerification),
          description: trialDescription(email),
        },
        requestVerificationEmailUpdate,
        request,
      );
    },

    /** The checks any holder of a link gets: MAC, type, expiry (the token), then single use (the workflow). */
    async verifyToken(token: string) {
      const { email, tokenHash } = readVerificationToken(signer, token);
      return onLink(() => updateFlow(deps, TrialFailure, trialWorkflowId(email), verifyTokenUpdate, [{ tokenHash }], linkEnded, keyOf('verify-token', tokenHash)));
    },

    async createAccount(token: string, password: string, firstName?: string, lastName?: string) {
      return (await createWithHash(token, password, firstName, lastName)).created;
    },

    /**
     * Creates the account and signs its creator in. An account that holds the
     * very hash this request computed (argon2id salts every hash) proves the
     * password without a second argon2id run; otherwise (a repeated post,
     * answered with the first one's account) it is checked as any sign-in is.
     */
    async createAccountAndSignIn(token: string, password: string, firstName: string | undefined, lastName: string | undefined, client: string) {
      const { created, passwordHash } = await createWithHash(token, password, firstName, lastName);
      const account = await db.account.findUnique({ where: { id: created.accountId }, select: { id: true, passwordHash: true, sessionGeneration: true } });
      if (account?.passwordHash === passwordHash) return { created, accessToken: issueAccessToken(signer, account) };
      const session = await signIn(db, signer, created.username, password, { client });
      return { created, accessToken: session.outcome === 'signed_in' ? session.accessToken : undefined };
    },

    async extend(username: string, days: number) {
      return updateFlow(deps, TrialFailure, trialWorkflowId(username), extendTrialUpdate, [{ days }], () => closedTrial(username));
    },

    async complete(username: string): Promise<void> {
      try {
        await updateFlow(deps, TrialFailure, trialWorkflowId(username), completeTrialUpdate, [], () => closedTrial(username), 'complete-trial');
      } catch (err) {
        // Completing a converted trial again is a no-op, so an operator can retry safely.
        if (err instanceof HttpError && err.extra.status === 'converted') return;
        throw err;
      }
    },

    /** "Reset your password": the same answer whether or not the address has an account. */
    async requestPasswordReset(email: string): Promise<void> {
      await startOrUpdate(
        deps,
        TrialFailure,
        {
          workflowType: 'passwordResetWorkflow',
          workflowId: passwordResetWorkflowId(email),
          args: [{ email, priorMailTimes: await passwordResetMailTimes(db, email) }],
          searchAttributes: trialSearchAttributes(email, 'password_reset', Date.now() + PASSWORD_RESET_TTL_MS),
          description: passwordResetDescription(email),
        },
        requestPasswordResetUpdate,
      );
    },

    /** The link's account, or a dead link. */
    readPasswordResetLink(token: string) {
      return readPasswordResetToken(db, signer, token);
    },

    async chooseNewPassword(token: string, password: string) {
      const link = await readPasswordResetToken(db, signer, token);
      const passwordHash = await checkedPasswordHash(password);
      // With Update-with-Start: a link mailed by a run that has ended still works while it is valid.
      return startOrUpdate(
        deps,
        TrialFailure,
        {
          workflowType: 'passwordResetWorkflow',
          workflowId: passwordResetWorkflowId(link.email),
          args: [{ email: link.email }],
          searchAttributes: trialSearchAttributes(link.email, 'password_reset', Date.now() + PASSWORD_RESET_TTL_MS),
          description: passwordResetDescription(link.email),
          updateKey: keyOf('choose-new-password', token),
        },
        chooseNewPasswordUpdate,
        { accountId: link.accountId, passwordFingerprint: link.passwordFingerprint, passwordHash },
      );
    },
  };
}
