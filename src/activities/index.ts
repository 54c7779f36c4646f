import type { Deps } from '../deps';
import { createInvitationActivities } from './invitations';
import { createBillingActivities } from './billing';
import { createTrialActivities } from './trial';

/** Every activity the worker runs, built over the shared dependencies. Activities are the flows' only side effects. */
export function createActivities(deps: Deps) {
  void deps;
  return {
    ...createBillingActivities(deps),
    ...createInvitationActivities(deps),
    ...createTrialActivities(deps),
    // each flow adds its own: ...createXActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
