import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsc = join(repoRoot, 'node_modules', '.bin', 'tsc');

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const consumerScript = `
import { ResourceTracker, captureResourceSnapshot, calculateResourceUsage, resourceUsageToDict } from 'otel-resource-tracker';
const usage = await ResourceTracker.track(async () => { let x = 0; for (let i = 0; i < 1e6; i++) x += i; return x; });
const dict = resourceUsageToDict(usage);
const again = calculateResourceUsage(captureResourceSnapshot(), captureResourceSnapshot());
console.log(JSON.stringify({ keys: Object.keys(dict), wall: again.wallClockSeconds >= 0 }));
`;

const consumerTypes = `
import { ResourceTracker, resourceUsageToDict, type ResourceUsage, type ResourceUsageDict } from 'otel-resource-tracker';
const usage: ResourceUsage = ResourceTracker.track(() => 1 + 1);
const later: Promise<ResourceUsage> = ResourceTracker.track(async () => 1);
const dict: ResourceUsageDict = resourceUsageToDict(usage);
const cpu: number = dict.cpu_time_seconds;
// @ts-expect-error the dict has exactly the four audit keys
dict.peak_memory_bytes;
export { cpu, later };
`;

describe('the packed package', function () {
  this.timeout(180_000);
  let workDir: string;

  before(() => {
    workDir = mkdtempSync(join(tmpdir(), 'otel-resource-tracker-pack-'));
  });

  after(() => rmSync(workDir, { recursive: true, force: true }));

  it('installs from npm pack and works from another project: ESM import, and types that resolve', () => {
    const packOutput = JSON.parse(
      run('npm', ['pack', '--json', '--pack-destination', workDir], repoRoot),
    ) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    const packed = packOutput[0];
    assert.ok(packed);
    const paths = packed.files.map((file) => file.path);
    assert.ok(paths.includes('dist/index.js') && paths.includes('dist/index.d.ts'));
    const strays = paths.filter(
      (path) => !/^(dist\/.*\.(c?js|d\.c?ts)|package\.json|README\.md|LICENSE)$/.test(path),
    );
    assert.deepEqual(strays, [], 'only what users need is packed');

    const consumer = join(workDir, 'consumer');
    mkdirSync(consumer);
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        join(workDir, packed.filename),
        '@types/node@20',
      ],
      consumer,
    );
    assert.ok(
      readdirSync(join(consumer, 'node_modules', '@opentelemetry')).includes('api'),
      'peer dependency',
    );

    writeFileSync(join(consumer, 'main.mjs'), consumerScript);
    const printed = JSON.parse(run(process.execPath, ['main.mjs'], consumer)) as {
      keys: string[];
      wall: boolean;
    };
    assert.deepEqual(printed, {
      keys: ['cpu_time_seconds', 'wall_clock_seconds', 'peak_memory_mb', 'gpu_vram_used_mb'],
      wall: true,
    });

    writeFileSync(join(consumer, 'main.ts'), consumerTypes);
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: ['node'],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['main.ts'],
      }),
    );
    run(tsc, ['-p', 'tsconfig.json'], consumer);
  });
});
