// Checks answers against the OpenAPI document with a JSON Schema 2020-12
// validator (ajv, the dialect of OpenAPI 3.1): a status the operation does
// not list, a required header that is missing, a header or body the schema
// refuses (every object answer is closed: a field it does not name is
// refused) is a problem.
import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { OpenApiDocument } from '../../src/api/openapi';
import { openApiPath } from '../../src/api/openapi';

export interface Answered {
  status: number;
  headers: Headers;
  /** The parsed JSON body; undefined when there is none. */
  body: unknown;
  contentType: string | null;
}

interface DocResponse {
  headers?: Record<string, { required?: boolean; schema: object }>;
  content?: Record<string, { schema: object }>;
}

const DOC_ID = 'openapi.json';

/** `a/b~c` as one JSON Pointer segment inside a URI fragment. */
const segment = (s: string) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'));

export class ContractChecker {
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly doc: OpenApiDocument) {
    this.ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(this.ajv);
    // OpenAPI's annotation on schemas, and the document's own fields: the document is the root the schemas' $refs resolve in.
    for (const keyword of ['example', 'openapi', 'info', 'tags', 'paths', 'components', 'webhooks', 'servers', 'security', 'externalDocs', 'jsonSchemaDialect']) this.ajv.addKeyword({ keyword });
    this.ajv.addSchema(doc as object, DOC_ID);
  }

  /** The operation of `METHOD /router/:path`, or undefined when the document has none. */
  operation(route: string): { responses: Record<string, DocResponse>; requestBody?: { content: Record<string, { schema: object }> }; parameters?: { name: string; in: string; schema: object }[] } | undefined {
    const [method, path] = route.split(' ');
    return (this.doc.paths?.[openApiPath(path)] as Record<string, never> | undefined)?.[method.toLowerCase()];
  }

  /** Where the operation of `METHOD /router/:path` is in the document, as a URI fragment. */
  pointer(route: string): string {
    const [method, path] = route.split(' ');
    return `#/paths/${segment(openApiPath(path))}/${method.toLowerCase()}`;
  }

  /** What is wrong with this answer to `route`, by the document; empty when it is as documented. */
  answerProblems(route: string, answer: Answered): string[] {
    const op = this.operation(route);
    if (!op) return [`${route} is not in the document`];
    const documented = op.responses[String(answer.status)];
    if (!documented) return [`${route} answered ${answer.status}, which is not documented (documented: ${Object.keys(op.responses).join(', ')})`];
    const problems: string[] = [];
    const pointer = `${this.pointer(route)}/responses/${answer.status}`;
    for (const [name, header] of Object.entries(documented.headers ?? {})) {
      const value = answer.headers.get(name);
      if (value === null) {
        if (header.required) problems.push(`${answer.status}: the header ${name} is missing`);
        continue;
      }
      problems.push(...this.schemaProblems(`${pointer}/headers/${segment(name)}/schema`, value, `${answer.status}: header ${name}`));
    }
    if (documented.content) {
      const type = answer.contentType?.split(';')[0].trim() ?? '';
      if (!documented.content[type]) return [...problems, `${answer.status}: content type "${type}" is not documented (documented: ${Object.keys(documented.content).join(', ')})`];
      problems.push(...this.schemaProblems(`${pointer}/content/${segment(type)}/schema`, answer.body, `${answer.status}: body`));
    } else if (answer.body !== undefined) {
      problems.push(`${answer.status}: has a body, but the document says it has none`);
    }
    return problems;
  }

  /** What the schema at `pointer` (in the document) refuses in `value`. */
  schemaProblems(pointer: string, value: unknown, what: string): string[] {
    let validate = this.compiled.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${DOC_ID}${pointer}` });
      this.compiled.set(pointer, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${what}${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${e.params.additionalProperty})` : ''}`);
  }
}
