import fs from 'node:fs';
import type { Stack } from '../../src/dev/stack';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as { __flowgateStack?: Stack; __flowgateDataDir?: string };
  await g.__flowgateStack?.stop();
  if (g.__flowgateDataDir) fs.rmSync(g.__flowgateDataDir, { recursive: true, force: true });
}
