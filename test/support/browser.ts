import fs from 'node:fs';
import { chromium, Browser } from 'playwright-core';

/** Playwright gives each launch a fresh profile. Debian's Chromium, headless, with no traffic of its own (the machine has no outside network). */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH || ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((f) => fs.existsSync(f));
  if (!executablePath) throw new Error('Chromium not found: run `npm run setup -- --browser` or set CHROMIUM_PATH');
  return chromium.launch({
    executablePath,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}
