import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Fails clearly when the binaries the suite needs are missing (they come from scripts/install-test-deps.sh). */
export function requireBinary(name: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${name} is not installed: run scripts/install-test-deps.sh (CI does, from .ci/run)`);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** `promtool check metrics` on an exposition: resolves with its output, rejects with it when it fails. */
export function promtoolCheckMetrics(exposition: string): string {
  requireBinary('promtool');
  return execFileSync('promtool', ['check', 'metrics'], {
    input: exposition,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export interface RunningPrometheus {
  readonly url: string;
  query(expression: string): Promise<PromResult[]>;
  /** Polls `expression` until `accept` is true for its result, or throws after `timeoutMs`. */
  waitFor(
    expression: string,
    accept: (results: PromResult[]) => boolean,
    timeoutMs?: number,
  ): Promise<PromResult[]>;
  stop(): Promise<void>;
}

export interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

/** A real Prometheus on 127.0.0.1 with a temporary config and data directory, scraping `targets` every second. */
export async function startPrometheus(
  targets: Array<{ job: string; hostPort: string; path?: string; honorLabels?: boolean }>,
  extraConfig = '',
): Promise<RunningPrometheus> {
  requireBinary('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
  const port = await freePort();
  const jobs = targets
    .map(
      (target) =>
        `  - job_name: ${target.job}\n    scrape_interval: 1s\n    metrics_path: ${target.path ?? '/metrics'}\n` +
        (target.honorLabels ? '    honor_labels: true\n' : '') +
        `    static_configs:\n      - targets: ['${target.hostPort}']\n`,
    )
    .join('');
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n${extraConfig}scrape_configs:\n${jobs}`,
  );
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const query = async (expression: string): Promise<PromResult[]> => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expression)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { result: PromResult[] };
    };
    if (body.status !== 'success') throw new Error(`PromQL ${expression}: ${body.error ?? response.status}`);
    return body.data?.result ?? [];
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`prometheus did not start: ${log}`);
    await sleep(100);
  }
  return {
    url,
    query,
    waitFor: async (expression, accept, timeoutMs = 20_000) => {
      const until = Date.now() + timeoutMs;
      let last: PromResult[] = [];
      while (Date.now() < until) {
        last = await query(expression);
        if (accept(last)) return last;
        await sleep(250);
      }
      throw new Error(`PromQL ${expression} never gave the expected result; last: ${JSON.stringify(last)}`);
    },
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
