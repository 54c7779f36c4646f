// npm run codec:endpoint: the codec endpoint to give a Temporal Web UI
// (TEMPORAL_CODEC_ENDPOINT of the temporalio/ui image, or its "Codec Server"
// setting), for the configured PUBLIC_URL and ADMIN_TOKEN. The address holds
// a key derived from ADMIN_TOKEN: keep it as private as the UI's configuration.
import { ConfigError, loadConfig } from '../src/config';
import { codecUiEndpoint } from '../src/api/codec';

try {
  const endpoint = codecUiEndpoint(loadConfig());
  if (!endpoint) throw new ConfigError('ADMIN_TOKEN', 'is required: the codec endpoint serves only operators');
  process.stdout.write(endpoint + '\n');
} catch (err) {
  process.stderr.write(`codec:endpoint: ${err instanceof ConfigError ? err.message : String((err as Error)?.message ?? err)}\n`);
  process.exit(2);
}
