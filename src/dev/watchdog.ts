// Stops the embedded servers when the process that started them dies without
// stopping them (SIGKILL, a crash). It runs detached, reads "+<pid>" and
// "-<pid>" lines on stdin (a server started, a server stopped), and when stdin
// closes, which happens whenever its parent exits for any reason, ends the
// process group of every server still registered.
const groups = new Set<number>();

function alive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffered += chunk;
  const lines = buffered.split('\n');
  buffered = lines.pop() ?? '';
  for (const line of lines) {
    const pid = Number(line.slice(1));
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (line.startsWith('+')) groups.add(pid);
    else if (line.startsWith('-')) groups.delete(pid);
  }
});
process.stdin.on('close', () => {
  const left = [...groups].filter(alive);
  if (left.length === 0) process.exit(0);
  for (const pid of left) signal(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  const timer = setInterval(() => {
    const still = left.filter(alive);
    if (still.length > 0 && Date.now() < deadline) return;
    for (const pid of still) signal(pid, 'SIGKILL');
    clearInterval(timer);
    process.exit(0);
  }, 100);
});
// The terminal's Ctrl-C reaches the parent's process group only; a stray signal must not end the watch early.
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
