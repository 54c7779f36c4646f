// npm run build: the workflow bundle the worker runs in production, and the replay gate replays.
import { BUILT_BUNDLE, writeWorkflowBundle } from '../src/bundle';

writeWorkflowBundle(process.argv[2] ?? BUILT_BUNDLE).catch((err) => {
  process.stderr.write(`bundling the workflows failed: ${String(err?.message ?? err)}\n`);
  process.exit(1);
});
