import type { Deps } from '../deps';
import { createInvitationActivities } from './invitations';
import { createTrialActivities } from './trial';

/** Every activity the worker runs, built over the shared dependencies. Activities are the flows' only side effects. */
export function createActivities(deps: Deps) {
  void deps;
  return {
    ...createTrialActivities(deps),
    ...createInvitationActivities(deps),
    // each flow adds its own: ...createXActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
