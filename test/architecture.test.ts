// The rules of ARCHITECTURE.md, checked over the real import graph of src/
// (read by the TypeScript compiler's own pre-processor, type-only imports included).
import { execFileSync } from 'node:child_process';
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

  it('gives every flow the same API files, and reaches workflows only through src/api/flows.ts', () => {
    const ROLES = ['contract.ts', 'flow.ts', 'pages.ts', 'routes.ts', 'views.ts'];
    for (const flow of ['billing', 'invitation', 'trial']) {
      const extra = flow === 'invitation' ? ['accounts.ts'] : [];
      expect({ flow, files: fs.readdirSync(path.join(SRC, 'api', flow)).sort() }).toEqual({ flow, files: [...ROLES, ...extra].sort() });
    }
    // Starting, updating, querying, describing or awaiting a workflow: the client's workflow API.
    const callers = [...graph.keys()].filter((file) => file.startsWith('src/api/') && /\.workflow\.|\.getHandle\(/.test(fs.readFileSync(path.join(ROOT, file), 'utf8')));
    expect(callers).toEqual(['src/api/flows.ts']);
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

/**
 * The paths a layout block names: each line's first column (the text before
 * two spaces), paths separated by ", ", where a bare name is in the folder of
 * the path before it and `<flow>` stands for each flow. Lines indented by two
 * spaces are under src/, lines that start at the margin are the top level;
 * deeper lines continue a description.
 */
function layoutPaths(file: string, heading: string): { top: string[]; src: string[] } {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const block = /```\n([\s\S]*?)```/.exec(text.slice(text.indexOf(heading)))![1];
  const named = { top: [] as string[], src: [] as string[] };
  for (const line of block.split('\n')) {
    const m = /^( {2})?(\S.*?)(?: {2,}|$)/.exec(line);
    if (!m || m[2] === 'src/') continue;
    let folder = '';
    for (const part of m[2].split(', ')) {
      const full = part.includes('/') ? part : folder + part;
      folder = full.slice(0, full.lastIndexOf('/') + 1);
      const paths = full.includes('<flow>') ? FLOWS.map((flow) => full.replace('<flow>', flow)) : [full];
      named[m[1] ? 'src' : 'top'].push(...paths);
    }
  }
  return named;
}

const FLOWS = ['billing', 'invitation', 'trial'];

describe('the maps of the tree', () => {
  const srcFiles = sourceFiles(SRC).map((f) => path.relative(SRC, f)).sort();
  const exists = (root: string, p: string) => fs.existsSync(path.join(root, p)) && fs.statSync(path.join(root, p)).isDirectory() === p.endsWith('/');

  it.each([
    ['ARCHITECTURE.md', '## Map'],
    ['README.md', '## Layout'],
  ])('%s names every file of src/, and nothing that is not there', (file, heading) => {
    const { src } = layoutPaths(file, heading);
    expect(src.length).toBeGreaterThan(40);
    expect(srcFiles.filter((f) => !src.includes(f))).toEqual([]);
    expect(src.filter((p) => !exists(SRC, p))).toEqual([]);
  });

  it("README's layout names every top-level file and folder, and nothing that is not there", () => {
    const { top } = layoutPaths('README.md', '## Layout');
    const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    const entries = [...new Set(tracked.map((f) => (f.includes('/') ? f.slice(0, f.indexOf('/') + 1) : f)))];
    const unlisted = entries.filter((e) => !['src/', 'README.md', 'ARCHITECTURE.md', '.gitignore'].includes(e) && !top.includes(e));
    expect(unlisted).toEqual([]);
    expect(top.filter((p) => !exists(ROOT, p))).toEqual([]);
  });

  it('would notice a file the maps leave out', () => {
    const { src } = layoutPaths('ARCHITECTURE.md', '## Map');
    expect(src).toContain('api/billing/routes.ts');
    expect(src).toContain('dev/watchdog.ts');
    expect([...srcFiles, 'api/billing/remotes.ts'].filter((f) => !src.includes(f))).toEqual(['api/billing/remotes.ts']);
  });
});
