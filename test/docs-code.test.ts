import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Block {
  file: string;
  line: number;
  language: string;
  code: string;
}

/** README.md and docs/*.md, but not docs/benchmarks.md (the output of `npm run bench`, not written by hand). */
function documents(): string[] {
  return [
    'README.md',
    'CHANGELOG.md',
    ...readdirSync(join(repoRoot, 'docs'))
      .filter((name) => name.endsWith('.md') && name !== 'benchmarks.md')
      .map((name) => `docs/${name}`),
  ];
}

function blocks(file: string): Block[] {
  const found: Block[] = [];
  const lines = readFileSync(join(repoRoot, file), 'utf8').split('\n');
  for (let index = 0; index < lines.length; index++) {
    const open = /^```(\S*)$/.exec(lines[index] ?? '');
    if (!open) continue;
    const start = index;
    const body: string[] = [];
    for (index++; index < lines.length && lines[index] !== '```'; index++) body.push(lines[index] ?? '');
    found.push({ file, line: start + 1, language: open[1] ?? '', code: body.join('\n') });
  }
  return found;
}

const CODE_LANGUAGES = new Set(['ts', 'typescript', 'js', 'javascript', 'sh', 'bash']);
const NOT_CODE = new Set(['text', 'yaml', 'json']);

describe('docs: every code block is type-checked or checked', function () {
  this.timeout(120_000);
  const all = documents().flatMap(blocks);

  it('every fenced block says its language: code (ts, sh) or not (text)', () => {
    const unlabeled = all.filter(
      (block) => !CODE_LANGUAGES.has(block.language) && !NOT_CODE.has(block.language),
    );
    assert.deepEqual(
      unlabeled.map((block) => `${block.file}:${block.line} "${block.language}"`),
      [],
    );
  });

  it('every TypeScript block type-checks, strict, against the built package and the installed SDK', () => {
    const typescript = all.filter((block) =>
      ['ts', 'typescript', 'js', 'javascript'].includes(block.language),
    );
    assert.ok(typescript.length >= 6, `${typescript.length} TypeScript blocks`);
    // Inside the repository, so that 'otel-resource-tracker' resolves to this package (its exports, dist/) and the
    // OpenTelemetry packages to node_modules, as in an application.
    const dir = join(repoRoot, 'build', 'doc-snippets');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const names = typescript.map((block, index) => {
      const name = `${block.file.replace(/[/.]/g, '_')}_${block.line}_${index}.ts`;
      // Each block is its own module (top-level await, its own names).
      writeFileSync(join(dir, name), `${block.code}\nexport {};\n`);
      return name;
    });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../tsconfig.base.json',
        compilerOptions: { noEmit: true, rootDir: '.', noUnusedLocals: false, types: ['node'] },
        files: names,
      }),
    );
    let output = '';
    try {
      execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', dir], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    // Name the document and line of each error, not the snippet file.
    const located = output.replace(/(\S+\.ts)\((\d+),\d+\)/g, (_match, name: string, line: string) => {
      const block = typescript[names.indexOf(name.replace(/^.*\//, ''))];
      return block ? `${block.file}:${block.line + Number(line)}` : name;
    });
    assert.equal(located.trim(), '', located);
  });

  it('every shell block is valid bash, and names npm scripts and files that exist', () => {
    const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: object })
      .scripts;
    for (const block of all.filter((candidate) => ['sh', 'bash'].includes(candidate.language))) {
      const where = `${block.file}:${block.line}`;
      execFileSync('bash', ['-n'], { input: block.code, stdio: ['pipe', 'pipe', 'pipe'] });
      for (const [, script] of block.code.matchAll(/npm run ([\w:-]+)/g)) {
        assert.ok(script !== undefined && script in scripts, `${where}: npm run ${script} is not a script`);
      }
      for (const [path] of block.code.matchAll(/\bbuild\/examples\/[\w-]+\.js/g)) {
        const source = path.replace(/^build\//, '').replace(/\.js$/, '.ts');
        assert.ok(existsSync(join(repoRoot, source)), `${where}: ${path} is built from no ${source}`);
      }
      for (const [path] of block.code.matchAll(/\b(?:examples|scripts)\/[\w./-]+\.(?:ya?ml|sh|ts)\b/g)) {
        assert.ok(existsSync(join(repoRoot, path)), `${where}: ${path} does not exist`);
      }
    }
  });

  it('the examples name npm scripts that exist, and the one that runs them', () => {
    const scripts = (
      JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;
    for (const name of readdirSync(join(repoRoot, 'examples')).filter((file) => file.endsWith('.ts'))) {
      const text = readFileSync(join(repoRoot, 'examples', name), 'utf8');
      for (const [, script] of text.matchAll(/npm run ([\w:-]+)/g)) {
        const command = script === undefined ? undefined : scripts[script];
        assert.ok(
          command?.includes(name.replace(/\.ts$/, '.js')),
          `examples/${name} says npm run ${script}: ${command}`,
        );
      }
    }
  });

  it('every relative link points to a file that exists', () => {
    for (const file of documents()) {
      const text = readFileSync(join(repoRoot, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (target === undefined || /^[a-z]+:/.test(target)) continue;
        assert.ok(existsSync(resolve(repoRoot, dirname(file), target)), `${file}: link to ${target}`);
      }
    }
  });
});
