import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from './helpers/zero-code.js';

const SOURCE = join(repoRoot, 'src');

/**
 * The layers of docs/architecture.md, lowest first: a file may import its own folder, its own layer, a lower
 * layer, or the shared base (config/, internal/), never a higher one. Top-level files (index.ts, the register entries) sit above
 * everything. A folder not listed here is not checked (so that a new folder does not break the suite before it is
 * placed): add it to its layer when it is created.
 */
const LAYERS: Record<string, number> = {
  config: -1,
  internal: -1,
  probes: 0,
  sampler: 1,
  gpu: 2,
  attribution: 3,
  profiler: 3,
  snapshot: 3,
  'span-processor': 4,
  metrics: 4,
  tracker: 4,
  resource: 4,
  prometheus: 5,
  report: 5,
  'zero-code': 6,
  cli: 6,
};
const TOP = 7;

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.c?ts$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The files `file` imports or re-exports (relative specifiers, type-only ones included), as source paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/gm),
    ...text.matchAll(/^\s*import\s+['"](\.{1,2}\/[^'"]+)['"]/gm),
    ...text.matchAll(/\b(?:require|import)\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g),
  ].map((match) => match[1] as string);
  return specifiers.map((specifier) => resolve(dirname(file), specifier).replace(/\.(c?)js$/, '.$1ts'));
}

function layerOf(file: string): { folder: string; rank: number | undefined } {
  const parts = relative(SOURCE, file).split('/');
  if (parts.length === 1) return { folder: '(top)', rank: TOP };
  const folder = parts[0] as string;
  return { folder, rank: LAYERS[folder] };
}

/** Every import that goes up a layer, as "from → to". */
function upwardImports(files: readonly string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    for (const target of importsOf(file)) {
      const to = layerOf(target);
      if (from.folder === to.folder || from.rank === undefined || to.rank === undefined) continue;
      if (to.rank > from.rank) found.push(`${relative(SOURCE, file)} → ${relative(SOURCE, target)}`);
    }
  }
  return found;
}

/** Every import cycle between files, each as "a → b → a". */
function importCycles(files: readonly string[]): string[] {
  const graph = new Map(files.map((file) => [file, importsOf(file)]));
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 'open') {
        const loop = [...path.slice(path.indexOf(target)), target];
        cycles.push(loop.map((entry) => relative(SOURCE, entry)).join(' → '));
      } else if (state.get(target) === undefined && graph.has(target)) visit(target);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (state.get(file) === undefined) visit(file);
  return cycles;
}

describe('layers: imports run one way (probes → sampler → gpu → … → zero-code / cli), no cycles', () => {
  const files = sourceFiles(SOURCE);

  it('no file imports a higher layer', () => {
    assert.deepEqual(upwardImports(files), []);
  });

  it('no import cycles between files', () => {
    assert.deepEqual(importCycles(files), []);
  });
});
