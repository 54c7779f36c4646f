import type { Deps } from '../deps';
import { createInvitationActivities } from './invitation';
import { createBillingActivities } from './billing';
import { createTrialActivities } from './trial';

/**
 * Every activity the worker runs, built over the shared dependencies. The
 * flows change their records and send mail only here (ARCHITECTURE.md lists
 * the few records no flow owns).
 */
export function createActivities(deps: Deps) {
  return {
    ...createBillingActivities(deps),
    ...createInvitationActivities(deps),
    ...createTrialActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
