// `npm run openapi`: writes the OpenAPI document, generated from the flows' contracts, to docs/openapi.json.
import fs from 'node:fs';
import path from 'node:path';
import { openApiJson } from '../src/api/openapi';

const target = path.resolve(__dirname, '..', 'docs', 'openapi.json');
fs.writeFileSync(target, openApiJson());
process.stdout.write(`wrote ${path.relative(process.cwd(), target)}\n`);
