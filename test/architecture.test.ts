// The rules of ARCHITECTURE.md, checked over the real import graph of src/
// (read by the TypeScript compiler's own pre-processor, type-only imports included).
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sourceFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

/** Each file of src/ (relative path) with what it imports: relative imports resolved to src/ paths, packages as named. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles.map(({ fileName }) => {
      if (!fileName.startsWith('.')) return fileName;
      const resolved = path.resolve(path.dirname(file), fileName);
      const candidates = [`${resolved}.ts`, path.join(resolved, 'index.ts'), resolved];
      return path.relative(ROOT, candidates.find((c) => fs.existsSync(c)) ?? resolved);
    });
    graph.set(path.relative(ROOT, file), targets);
  }
  return graph;
}

const ROUTE_FILE = /^src\/api\/[^/]+\/(routes|accounts|pages)\.ts$/;

/** Every import that breaks a rule, as "file -> import: rule". */
export function violations(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  for (const [file, imports] of graph) {
    for (const target of imports) {
      const say = (rule: string) => found.push(`${file} -> ${target}: ${rule}`);
      if (/^src\/(workflows|activities|domain)\//.test(file) && target.startsWith('src/api')) say('workflows, activities and flow records never import the API');
      if (ROUTE_FILE.test(file) && ROUTE_FILE.test(target)) say('a route file never imports another route file');
      const flowOf = (p: string) => /^src\/api\/([^/]+)\//.exec(p)?.[1];
      if (flowOf(file) && flowOf(target) && flowOf(file) !== flowOf(target)) say("one flow's API never imports another's");
      if (file.startsWith('src/workflows/')) {
        const allowed =
          target.startsWith('src/workflows/') ||
          target === 'src/shared/searchAttributes.ts' ||
          target === 'src/shared/failures.ts' ||
          target.startsWith('src/activities/') || // `import type` only: checked below
          ['@temporalio/workflow', '@temporalio/common'].includes(target);
        if (!allowed) say('workflow code imports only workflow code, its messages and the workflow SDK (it must stay deterministic)');
      }
    }
  }
  return found;
}

describe('the import graph', () => {
  const graph = importGraph();

  it('keeps the layers and the flows apart', () => {
    expect(graph.size).toBeGreaterThan(30);
    expect(violations(graph)).toEqual([]);
  });

  it('workflow files import activities as types only', () => {
    const valueImports: string[] = [];
    for (const [file] of graph) {
      if (!file.startsWith('src/workflows/')) continue;
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)) if (m[2].includes('/activities') && !m[1]) valueImports.push(`${file}: ${m[0]}`);
    }
    expect(valueImports).toEqual([]);
  });

  it('has no src/services: each flow keeps its records in src/domain', () => {
    expect(fs.existsSync(path.join(SRC, 'services'))).toBe(false);
    expect(fs.readdirSync(path.join(SRC, 'domain')).sort()).toEqual(['billing.ts', 'invitation.ts', 'trial.ts']);
  });

  it('would catch each kind of violation', () => {
    const broken = new Map<string, string[]>([
      ['src/activities/trial.ts', ['src/api/http.ts']],
      ['src/api/trial/pages.ts', ['src/api/trial/routes.ts']],
      ['src/api/billing/flow.ts', ['src/api/invitation/flow.ts']],
      ['src/workflows/trial/workflow.ts', ['src/shared/db.ts']],
    ]);
    expect(violations(broken)).toHaveLength(4);
  });
});
