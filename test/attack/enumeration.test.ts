// Whether an address has an account must not show in any answer, whatever
// case or Unicode tricks the address is written with.
import { startService, TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';

describe('no account enumeration', () => {
  let service: TestService;
  let known: string;
  const password = 'Known-pass-1!';

  const post = async (path: string, body: unknown) => {
    const res = await fetch(service.baseUrl + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.text() };
  };

  beforeAll(async () => {
    service = await startService();
    known = uniqueEmail('known');
    await post('/api/trial/register', { username: known });
    const link = linkIn(await waitForEmail(known, /Verify your email/), `${service.baseUrl}/trial/register?token=`);
    const token = new URL(link).searchParams.get('token');
    expect((await post('/api/trial/creation', { token, password })).status).toBe(201);
  });
  afterAll(() => service?.stop());

  it('answers trial registration identically for known, unknown and case-changed addresses', async () => {
    const unknown = uniqueEmail('unknown');
    const answers = await Promise.all([
      post('/api/trial/register', { username: known }),
      post('/api/trial/register', { username: unknown }),
      post('/api/legacy/trial/register', { username: known.toUpperCase() }),
      post('/api/legacy/trial/register', { username: `  ${known.replace(/^./, (c) => c.toUpperCase())}  ` }),
    ]);
    for (const answer of answers) expect(answer).toEqual(answers[1]);
    expect(answers[1].status).toBe(202);
    // The known address gets "Welcome back", never a second trial.
    await waitForEmail(known, /Welcome back/);
    const infos = await fetch(`${service.baseUrl}/api/trial/infos?username=${encodeURIComponent(known.toUpperCase())}`).then((r) => r.json());
    expect(infos).toMatchObject({ status: 'active' });
  });

  it('does not let look-alike Unicode addresses reach the known account', async () => {
    const [local, domain] = known.split('@');
    const fullwidth = [...local].map((c) => (/[a-z]/.test(c) ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join('') + '@' + domain;
    for (const trick of [fullwidth, `${local}\u200b@${domain}`, `${local}@${domain}.`, `"${local}"@${domain}`]) {
      const answer = await post('/api/trial/register', { username: trick });
      expect([202, 400]).toContain(answer.status);
      const login = await post('/auth/v1/login', { username: trick, password });
      expect(login.status).toBe(401);
    }
  });

  it('answers a login with an unknown user exactly like one with a wrong password', async () => {
    const wrongPassword = await post('/auth/v1/login', { username: known, password: 'Wrong-pass-1!' });
    const unknownUser = await post('/auth/v1/login', { username: uniqueEmail('nobody'), password: 'Wrong-pass-1!' });
    expect(wrongPassword.status).toBe(401);
    expect(unknownUser).toEqual(wrongPassword);
    const trialWrong = await post('/api/trial/login', { username: known, password: 'Wrong-pass-1!' });
    const trialUnknown = await post('/api/trial/login', { username: uniqueEmail('nobody'), password: 'Wrong-pass-1!' });
    expect(trialWrong.status).toBe(401);
    expect(trialUnknown).toEqual(trialWrong);
    expect((await post('/auth/v1/login', { username: known.toUpperCase(), password })).status).toBe(200);
  });
});
