// temporary profiling helper (not committed)
import { Client, Connection } from '@temporalio/client';
import { SmtpSink } from './smtpSink';
import { freePort, startServiceProcess, pool } from './stack';
import fs from 'node:fs';
function tree(root: number): number[] {
  const out = [root];
  for (const d of fs.readdirSync('/proc')) { if (!/^\d+$/.test(d)) continue; try { const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8'); const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]); if (ppid && out.includes(ppid) && !out.includes(Number(d))) out.push(Number(d)); } catch {} }
  return out;
}
function threads(pid: number): Record<string, number> {
  const r: Record<string, number> = {};
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) { try { const st = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8'); const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')); const f = st.slice(st.lastIndexOf(')') + 2).split(' '); r[`${name}:${t}`] = (Number(f[11]) + Number(f[12])) * 10; } catch {} }
  return r;
}
function cpu(pids: number[]): Record<string, number> {
  const r: Record<string, number> = {};
  for (const p of pids) { try { const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8'); const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')); const f = st.slice(st.lastIndexOf(')') + 2).split(' '); r[`${name}:${p}`] = (Number(f[11]) + Number(f[12])) * 10; } catch {} }
  return r;
}

async function http(method: string, url: string, body?: unknown) {
  const res = await fetch(url, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined, redirect: 'manual' });
  if (res.status >= 400) throw new Error(`${url} ${res.status} ${await res.text()}`);
  await res.text();
}
async function main() {
  const sink = new SmtpSink();
  const smtpPort = await freePort();
  await sink.listen(smtpPort);
  const service = await startServiceProcess(`smtp://127.0.0.1:${smtpPort}`, { TEMPORAL_UI: '0', ...(process.env.PROF ? { NODE_OPTIONS: '--require /tmp/prof/start.js' } : {}) });
  const client = new Client({ connection: await Connection.connect({ address: service.temporalAddress }) });
  try {
    if (process.env.C) {
      const pids = [...tree(service.child.pid!), ...tree(service.child.pid!).flatMap((p) => tree(p))];
      const uniq = [...new Set([...pids, process.pid])];
      const before = cpu(uniq); const t = performance.now(); const tb = threads(service.child.pid!);
      const n = Number(process.env.N);
      await pool(n, Number(process.env.C), async (i) => {
        const email = `c-${Date.now()}-${i}@example.test`;
        await http('POST', `${service.baseUrl}/api/trial/register`, { username: email });
        const mail = await sink.next(email);
        const link = mail.text.match(/https?:\/\/\S+/g)!.find((l) => l.startsWith(service.baseUrl))!;
        const token = new URL(link).searchParams.get('token')!;
        await http('GET', link);
        await http('POST', `${service.baseUrl}/api/trial/verify`, { token });
        await http('POST', `${service.baseUrl}/api/trial/creation`, { token, password: 'Bench-pass-1!' });
      });
      const secs = (performance.now() - t) / 1000; const after = cpu(uniq); const ta = threads(service.child.pid!);
      const agg: Record<string, number> = {};
      for (const k of Object.keys(ta)) { const name = k; agg[name] = (agg[name] ?? 0) + ta[k] - (tb[k] ?? 0); }
      for (const [k, v] of Object.entries(agg).sort((a, b) => b[1] - a[1])) if (v > 0) console.log('  thread', k, (v / n).toFixed(1));
      console.log('flows/s', (n / secs).toFixed(2));
      for (const k of Object.keys(after)) if (after[k] - (before[k] ?? 0) > 0) console.log(k, 'cpu ms per flow', ((after[k] - (before[k] ?? 0)) / n).toFixed(1));
      return;
    }
    for (let i = 0; i < Number(process.env.N ?? 6); i++) {
      const email = `p-${Date.now()}-${i}@example.test`;
      const t: Record<string, number> = {};
      let t0 = performance.now();
      const mark = (k: string) => { const n = performance.now(); t[k] = Math.round(n - t0); t0 = n; };
      await http('POST', `${service.baseUrl}/api/trial/register`, { username: email }); mark('register');
      const mail = await sink.next(email); mark('mail');
      const link = mail.text.match(/https?:\/\/\S+/g)!.find((l) => l.startsWith(service.baseUrl))!;
      const token = new URL(link).searchParams.get('token')!;
      await http('GET', link); mark('click');
      await http('POST', `${service.baseUrl}/api/trial/verify`, { token }); mark('verify');
      await http('POST', `${service.baseUrl}/api/trial/creation`, { token, password: 'Bench-pass-1!' }); mark('creation');
      console.log(JSON.stringify(t));
      if (i === Number(process.env.N ?? 6) - 1) {
        const h = await client.workflow.getHandle(`trial/${email}`).fetchHistory();
        const start = Number(h.events![0].eventTime!.seconds) * 1000 + h.events![0].eventTime!.nanos! / 1e6;
        for (const e of h.events!) {
          const ms = Number(e.eventTime!.seconds) * 1000 + e.eventTime!.nanos! / 1e6 - start;
          console.log(String(Math.round(ms)).padStart(6), e.eventId, e.eventType);
        }
      }
    }
  } finally {
    await service.stop();
    await sink.close();
  }
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
