// The OpenAPI document itself: committed as generated, valid OpenAPI 3.1,
// its examples valid by its own schemas, and a checker that refuses what
// the document does not say.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONTRACTS, openApiDocument, openApiJson } from '../../src/api/openapi';
import { ContractChecker } from '../support/contract';

const ROOT = path.resolve(__dirname, '..', '..');
const doc = openApiDocument();
const checker = new ContractChecker(doc);

const examples = CONTRACTS.flatMap(({ operations }) =>
  Object.entries(operations).flatMap(([route, op]) => Object.entries(op.examples).map(([name, example]) => ({ route, name, example }))),
);

describe('the OpenAPI document', () => {
  it('is committed as generated: run `npm run openapi` after changing a contract', () => {
    expect(fs.readFileSync(path.join(ROOT, 'docs', 'openapi.json'), 'utf8')).toBe(openApiJson());
  });

  it('is a valid OpenAPI 3.1 document', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openapi-')), 'openapi.json');
    fs.writeFileSync(file, openApiJson());
    const cli = path.join(path.dirname(require.resolve('@seriousme/openapi-schema-validator/package.json')), 'bin', 'validate-api-cli.js');
    const run = spawnSync(process.execPath, [cli, file], { encoding: 'utf8' });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toEqual({ valid: true });
    expect(doc.openapi).toBe('3.1.0');
  });

  it('has a success example for every operation, and a documented status for every example', () => {
    const problems: string[] = [];
    for (const { tag, operations } of CONTRACTS) {
      for (const [route, op] of Object.entries(operations)) {
        if (!/^(GET|POST|PUT|DELETE|PATCH|OPTIONS) \/\S*$/.test(route)) problems.push(`${tag}: "${route}" is not "METHOD /path"`);
        if (!Object.values(op.examples).some((e) => e.status < 300)) problems.push(`${route}: no example of a success`);
        for (const [name, example] of Object.entries(op.examples)) {
          if (!op.answers[example.status]) problems.push(`${route} ${name}: status ${example.status} is not among the answers`);
          if (example.answer !== undefined && !op.answers[example.status]?.body) problems.push(`${route} ${name}: an answer body for a status without content`);
          if (example.body !== undefined && !op.body) problems.push(`${route} ${name}: a request body for an operation without one`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('holds examples that its own schemas accept', () => {
    const problems: string[] = [];
    for (const { route, name, example } of examples) {
      const at = checker.pointer(route);
      if (example.answer !== undefined) problems.push(...checker.schemaProblems(`${at}/responses/${example.status}/content/application~1json/schema`, example.answer, `${route} ${name} answer`));
      // Refused requests are refused for a reason: only the accepted ones must match the request's schemas.
      if (example.status >= 300) continue;
      if (example.body !== undefined) problems.push(...checker.schemaProblems(`${at}/requestBody/content/application~1json/schema`, example.body, `${route} ${name} body`));
      const parameters = checker.operation(route)?.parameters ?? [];
      for (const [index, parameter] of parameters.entries()) {
        const value = ({ path: example.path, query: example.query, header: example.headers } as Record<string, Record<string, string> | undefined>)[parameter.in]?.[parameter.name];
        if (value !== undefined) problems.push(...checker.schemaProblems(`${at}/parameters/${index}/schema`, value, `${route} ${name} ${parameter.in} ${parameter.name}`));
      }
    }
    expect(examples.length).toBeGreaterThan(50);
    expect(problems).toEqual([]);
  });
});

describe('the contract checker', () => {
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
    status,
    body,
    headers: new Headers(headers),
    contentType: body === undefined ? null : 'application/json; charset=utf-8',
  });

  it('accepts an answer as documented', () => {
    expect(checker.answerProblems('POST /api/trial/login', answer(429, { reason: 'Wait.', retryAfterSeconds: 30 }, { 'Retry-After': '30' }))).toEqual([]);
    expect(checker.answerProblems('POST /auth/v1/logout', answer(204, undefined))).toEqual([]);
  });

  it('refuses an undocumented status, field, header, content type or body', () => {
    expect(checker.answerProblems('POST /api/trial/login', answer(418, { reason: 'Teapot.' }))).toEqual([expect.stringContaining('418, which is not documented')]);
    expect(checker.answerProblems('POST /api/trial/login', answer(200, { accessToken: 'x', tokenType: 'Bearer', admin: true }, { 'Set-Cookie': 'fg_device=x; path=/' }))).toEqual([expect.stringContaining('(admin)')]);
    expect(checker.answerProblems('POST /api/trial/login', answer(429, { reason: 'Wait.', retryAfterSeconds: 30 }))).toEqual(['429: the header Retry-After is missing']);
    expect(checker.answerProblems('POST /auth/v1/logout', answer(401, { reason: 'Sign in.' }, { 'WWW-Authenticate': 'Basic realm="x"' }))).toEqual([
      expect.stringContaining('header WWW-Authenticate'),
    ]);
    expect(checker.answerProblems('POST /api/trial/verify', answer(410, { reason: 'Gone.', code: 'gone_fishing' }))).toEqual([expect.stringContaining('allowed values')]);
    expect(checker.answerProblems('GET /healthz', { ...answer(200, 'ok'), contentType: 'text/plain' })).toEqual([expect.stringContaining('content type "text/plain"')]);
    expect(checker.answerProblems('POST /auth/v1/logout', answer(204, {}))).toEqual([expect.stringContaining('has a body')]);
    expect(checker.answerProblems('GET /nowhere', answer(200, {}))).toEqual(['GET /nowhere is not in the document']);
  });
});
