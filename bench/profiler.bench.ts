import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { ResourceSpanProcessor, type ResourceSpanProcessorOptions } from '../src/index.js';
import type { ProfilerBackendName } from '../src/profiler/profiler-settings.js';
import { type Measurement, measure, report } from './harness.js';
import { startOtlpSink } from './otlp-sink.js';
import { load, median, processCpuMs, waitForPort } from './zero-code.bench.js';

/**
 * The per-span cost of the profiler's hook: a span start and end with the processor, profiler off and on. The
 * cases take turns over several rounds (one profiler per process: each round makes and shuts down its own), and
 * each keeps its best round, so that neither the order nor the JIT's warm-up decides.
 */
async function benchPerSpan(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'bench-profiles-'));
  const cases: Array<{ name: string; options: ResourceSpanProcessorOptions }> = [
    { name: 'ResourceSpanProcessor, profiler off', options: {} },
    ...(['pprof', 'inspector'] as ProfilerBackendName[]).map((backend) => ({
      name: `ResourceSpanProcessor, profiler cpu at 100 Hz (${backend})`,
      options: { profiler: 'cpu' as const, profile: { directory, backend } },
    })),
  ];
  const best = new Map<string, Measurement>();
  for (let round = 0; round < 4; round++) {
    for (const { name, options } of cases) {
      const processor = new ResourceSpanProcessor(options);
      const tracer = new BasicTracerProvider({ spanProcessors: [processor] }).getTracer('bench');
      const result = measure(name, () => tracer.startSpan('op', undefined, ROOT_CONTEXT).end(), 50_000, 3);
      await processor.shutdown();
      const previous = best.get(name);
      if (previous === undefined || result.nsPerOp < previous.nsPerOp) best.set(name, result);
    }
  }
  const [off, ...on] = cases.map(({ name }) => best.get(name) as Measurement);
  report(
    'Profiler: cost per span (startSpan().end(); the sampler at 100 Hz; best of 4 rounds taken in turns)',
    off as Measurement,
    on,
  );
  rmSync(directory, { recursive: true, force: true });
}

/** CPU per request of the instrumented Express hello-world, profiler off and on (each sampler). */
async function benchService(repoRoot: string): Promise<void> {
  const sink = await startOtlpSink();
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const app = join(repoRoot, 'test', 'fixtures', 'apps', 'express-app.cjs');
  const directory = mkdtempSync(join(tmpdir(), 'bench-service-profiles-'));
  const setups: Array<{ name: string; env: Record<string, string> }> = [
    { name: 'profiler off', env: {} },
    {
      name: 'OTEL_RESOURCE_TRACKER_PROFILER=cpu (100 Hz), @datadog/pprof',
      env: { OTEL_RESOURCE_TRACKER_PROFILER: 'cpu', OTEL_RESOURCE_TRACKER_PROFILER_BACKEND: 'pprof' },
    },
    {
      name: 'OTEL_RESOURCE_TRACKER_PROFILER=cpu (100 Hz), node:inspector',
      env: { OTEL_RESOURCE_TRACKER_PROFILER: 'cpu', OTEL_RESOURCE_TRACKER_PROFILER_BACKEND: 'inspector' },
    },
  ];
  const rates = new Map<string, number[]>(setups.map((setup) => [setup.name, []]));
  const cpuPerRequest = new Map<string, number[]>(setups.map((setup) => [setup.name, []]));
  try {
    for (let round = 0; round < 3; round++) {
      for (const setup of setups) {
        const child = spawn(process.execPath, ['--require', 'otel-resource-tracker/register', app], {
          cwd: repoRoot,
          env: {
            PATH: process.env.PATH,
            OTEL_EXPORTER_OTLP_ENDPOINT: `${sink.url}/profiler`,
            OTEL_METRICS_EXPORTER: 'none',
            OTEL_LOGS_EXPORTER: 'none',
            OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
            OTEL_RESOURCE_TRACKER_PROFILE_DIR: directory,
            // A period shorter than the run: the cost of writing files is in the figure.
            OTEL_RESOURCE_TRACKER_PROFILE_PERIOD_MS: '1000',
            ...setup.env,
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const port = await waitForPort(child);
        await load(agent, port, '/cpu?ms=0', 16, 0.5);
        const cpuBefore = processCpuMs(child.pid as number);
        const { perSecond: rate } = await load(agent, port, '/cpu?ms=0', 16, 3);
        rates.get(setup.name)?.push(rate);
        cpuPerRequest
          .get(setup.name)
          ?.push(((processCpuMs(child.pid as number) - cpuBefore) * 1000) / (rate * 3));
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    }
  } finally {
    agent.destroy();
    sink.server.close();
  }
  const files = readdirSync(directory).length;
  rmSync(directory, { recursive: true, force: true });
  const offRate = median(rates.get('profiler off') ?? []);
  const offCpu = median(cpuPerRequest.get('profiler off') ?? []);
  console.log(
    '\nProfiler: instrumented Express hello-world (--require register, 16 keep-alive clients, median of 3 × 3 s,' +
      ' one profile file a second)',
  );
  console.log(
    `${'case'.padEnd(64)} ${'req/s'.padStart(6)} ${'÷ off'.padStart(6)} ${'CPU µs/req'.padStart(10)} ${'÷ off'.padStart(6)}`,
  );
  for (const setup of setups) {
    const rate = median(rates.get(setup.name) ?? []);
    const cpu = median(cpuPerRequest.get(setup.name) ?? []);
    console.log(
      `${setup.name.padEnd(64)} ${rate.toFixed(0).padStart(6)} ${(rate / offRate).toFixed(2).padStart(6)} ${cpu.toFixed(0).padStart(10)} ${(cpu / offCpu).toFixed(2).padStart(6)}`,
    );
  }
  console.log(`(${files} profile files written, all runs)`);
}

/** What the CPU profiler costs (issue 27): per span, and per request of a small service, against profiler off. */
export async function benchProfiler(repoRoot: string): Promise<void> {
  await benchPerSpan();
  await benchService(repoRoot);
}
