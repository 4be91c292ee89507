import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const example = (name: string) => join(repoRoot, 'build', 'examples', `${name}.js`);

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export const app = (name: string) => join(repoRoot, 'test', 'fixtures', 'apps', name);

/** Runs an example under `node --import otel-resource-tracker/register`, from the repository root. */
export function underZeroCode(
  script: string,
  env: Record<string, string>,
): { child: ChildProcess; done: Promise<Finished> } {
  return runNode(['--expose-gc', '--import', 'otel-resource-tracker/register', script], env);
}

/** Runs node with `args` from the repository root, with a bare environment plus `env`; collects the output. */
export function runNode(
  args: readonly string[],
  env: Record<string, string>,
): { child: ChildProcess; done: Promise<Finished> } {
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<Finished>((resolveDone) =>
    child.on('exit', (code, signal) => resolveDone({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

/** Resolves with the URL an example server prints ("listening on http://…"). */
export function waitForUrl(child: ChildProcess): Promise<string> {
  return new Promise<string>((resolveUrl, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      const match = /listening on (http:\/\/[\d.:]+)/.exec(chunk.toString());
      if (match?.[1]) resolveUrl(match[1]);
    });
    child.once('exit', () => reject(new Error('the server exited')));
  });
}
