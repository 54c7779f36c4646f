import nodemailer from 'nodemailer';
import { SmtpSink } from './smtpSink';
import { freePort } from './stack';
(async () => {
  const sink = new SmtpSink(); const port = await freePort(); await sink.listen(port);
  for (const pool of [false, true]) {
    const tr = nodemailer.createTransport(`smtp://127.0.0.1:${port}` + (pool ? '?pool=true' : ''));
    for (let i = 0; i < 5; i++) { const t = performance.now(); await tr.sendMail({ from: 'a@b.c', to: `x${i}@y.z`, subject: 's', text: 'hi' }); console.log(pool, Math.round(performance.now() - t)); }
    tr.close();
  }
  await sink.close(); process.exit(0);
})();
