import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from './helpers/zero-code.js';

/*
 * The layers of src/ (docs/architecture.md, "Layers"): each folder imports only from its own layer and the ones
 * below it, so that a change to a lower layer never needs a higher one, and the library entry never loads the
 * command-line tool, the report or the zero-code entry.
 */

/** Lowest first. config/ and internal/ sit under everything: any folder may use them, they use nothing above. */
const LAYERS: readonly (readonly string[])[] = [
  ['config', 'internal'],
  ['probes'],
  ['sampler'],
  ['gpu'],
  ['attribution', 'profiler'],
  ['span-processor', 'metrics', 'tracker', 'snapshot', 'resource'],
  ['prometheus', 'report'],
  ['sdk-setup'],
  ['zero-code', 'cli', 'register'],
];

/** What index.ts (the library entry) must never reach, directly. */
const NOT_FROM_INDEX = ['zero-code', 'cli', 'report', 'sdk-setup', 'register'];

/** The two entries that set up an SDK share sdk-setup/, never each other (register.ts is the zero-code entry's). */
const INDEPENDENT_ENTRIES: Record<string, readonly string[]> = {
  cli: ['zero-code', 'register'],
  'zero-code': ['cli', 'register'],
};

interface ImportEdge {
  /** The importing file, relative to the repository ("src/cli/run-span.ts"). */
  readonly from: string;
  /** The imported file, the same way. */
  readonly to: string;
}

/** The folder under src/ a file belongs to ("register" for src/register*.ts, "index" for src/index.ts). */
function unitOf(file: string): string {
  const parts = file.split('/');
  if (parts.length > 2) return parts[1] ?? '';
  const name = parts[1] ?? '';
  return name.startsWith('register') ? 'register' : name.replace(/\.[cm]?ts$/, '');
}

function layerOf(unit: string): number {
  return LAYERS.findIndex((layer) => layer.includes(unit));
}

/** Every import, export … from, dynamic import() and require() of a relative path in a source text. */
function relativeImports(text: string): string[] {
  const specifiers = [
    ...text.matchAll(/\b(?:import|export)\s+(?:type\s+)?(?:[^;'"]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/g),
    ...text.matchAll(/\b(?:import|require)\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g),
    // createRequire(import.meta.url)('../x.js'): a lazy load is an arrow like any other.
    ...text.matchAll(/\bcreateRequire\([^)]*\)\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*,?\s*\)/g),
  ].map((match) => match[1] ?? '');
  return [...new Set(specifiers)];
}

/** The import graph of src/, from the sources themselves. */
function importGraph(): ImportEdge[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.[cm]?ts$/.test(entry) && !entry.endsWith('.d.ts')) files.push(path);
    }
  };
  walk(join(repoRoot, 'src'));
  return files.flatMap((file) =>
    relativeImports(readFileSync(file, 'utf8')).map((specifier) => ({
      from: relative(repoRoot, file),
      to: relative(repoRoot, resolve(dirname(file), specifier.replace(/\.([cm]?)js$/, '.$1ts'))),
    })),
  );
}

/** Every import cycle between files, each as "a → b → a". */
function importCycles(edges: readonly ImportEdge[]): string[] {
  const graph = new Map<string, string[]>();
  for (const edge of edges) graph.set(edge.from, [...(graph.get(edge.from) ?? []), edge.to]);
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 'open')
        cycles.push([...path.slice(path.indexOf(target)), target].join(' → '));
      else if (state.get(target) === undefined) visit(target);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (state.get(file) === undefined) visit(file);
  return cycles;
}

/** One line per arrow that breaks the layers, or per folder the layers do not place. */
function layerViolations(edges: readonly ImportEdge[]): string[] {
  const problems = new Set<string>();
  for (const edge of edges) {
    const from = unitOf(edge.from);
    const to = unitOf(edge.to);
    for (const unit of [from, to]) {
      if (unit !== 'index' && layerOf(unit) < 0) {
        problems.add(
          `src/${unit}/ is in no layer: add it to LAYERS in test/layers.test.ts and docs/architecture.md`,
        );
      }
    }
    if (from === to) continue;
    if (from === 'index') {
      if (NOT_FROM_INDEX.includes(to))
        problems.add(`${edge.from} imports ${edge.to}: the library entry never reaches ${to}/`);
      continue;
    }
    if (to === 'index') {
      problems.add(`${edge.from} imports ${edge.to}: nothing inside src/ imports the library entry`);
      continue;
    }
    if (layerOf(from) < 0 || layerOf(to) < 0) continue;
    if (layerOf(to) > layerOf(from))
      problems.add(`${edge.from} imports ${edge.to}: ${from}/ is below ${to}/`);
    else if (INDEPENDENT_ENTRIES[from]?.includes(to)) {
      problems.add(`${edge.from} imports ${edge.to}: ${from}/ and ${to}/ share sdk-setup/, not each other`);
    }
  }
  return [...problems];
}

describe('layers of src/', () => {
  it('the checker sees an arrow the wrong way, a sibling entry, a stray folder, and the library entry reaching up', () => {
    assert.deepEqual(
      layerViolations([
        { from: 'src/probes/a.ts', to: 'src/zero-code/b.ts' },
        { from: 'src/cli/run-span.ts', to: 'src/zero-code/sdk-packages.ts' },
        { from: 'src/metrics/c.ts', to: 'src/nowhere/d.ts' },
        { from: 'src/index.ts', to: 'src/report/e.ts' },
        { from: 'src/zero-code/start.ts', to: 'src/sdk-setup/f.ts' },
        { from: 'src/register.cts', to: 'src/zero-code/preload.ts' },
        { from: 'src/gpu/g.ts', to: 'src/config/env.ts' },
      ]),
      [
        'src/probes/a.ts imports src/zero-code/b.ts: probes/ is below zero-code/',
        'src/cli/run-span.ts imports src/zero-code/sdk-packages.ts: cli/ and zero-code/ share sdk-setup/, not each other',
        'src/nowhere/ is in no layer: add it to LAYERS in test/layers.test.ts and docs/architecture.md',
        'src/index.ts imports src/report/e.ts: the library entry never reaches report/',
      ],
    );
    assert.deepEqual(
      relativeImports(
        "import {\n  a,\n  type B,\n} from '../x/y.js';\nimport type { C } from './c.js';\nexport * from \"../z.js\";\n" +
          "const m = require('./preload.js') as typeof import('./preload.js');\nimport 'node:fs';\n" +
          "const p = createRequire(import.meta.url)(\n  '../profiler/p.js',\n);\n",
      ),
      ['../x/y.js', './c.js', '../z.js', './preload.js', '../profiler/p.js'],
    );
  });

  it('every import in src/ goes down the layers (or stays in its own)', () => {
    const edges = importGraph();
    assert.ok(edges.length > 100, `${edges.length} imports read`);
    assert.deepEqual(layerViolations(edges), []);
  });

  it('no import cycles between files (a cycle hides which of two files is the lower one)', () => {
    assert.deepEqual(importCycles(importGraph()), []);
  });
});
