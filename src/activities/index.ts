import type { Deps } from '../deps';

/** Every activity the worker runs, built over the shared dependencies. Activities are the flows' only side effects. */
export function createActivities(deps: Deps) {
  void deps;
  return {
    // each flow adds its own: ...createXActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
