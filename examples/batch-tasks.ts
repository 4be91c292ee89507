/**
 * A batch of tasks traced with nothing but the OpenTelemetry API — CPU-heavy, memory-heavy, two concurrent, one
 * nested, one that shells out — so that the same code runs under any tracing set-up: the SDK in code
 * (traced-tasks.ts) or the zero-code entry (batch.ts).
 */
import { execFile } from 'node:child_process';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { trace } from '@opentelemetry/api';

const MiB = 1024 * 1024;
const run = promisify(execFile);
const tracer = trace.getTracer('example-batch');

/** Spins until this process has used `ms` of CPU. */
export function spin(ms: number): void {
  const start = process.cpuUsage();
  let x = 0;
  while (process.cpuUsage(start).user / 1000 < ms) for (let i = 0; i < 10_000; i++) x += Math.sqrt(i);
  if (x < 0) console.log(x);
}

/** Runs `work` in an active span named `name`, ended when `work` settles. */
export function traced<T>(name: string, work: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, (span) => work().finally(() => span.end()));
}

async function cpuChunks(totalMs: number): Promise<void> {
  for (let done = 0; done < totalMs; done += 20) {
    spin(20);
    await nextTurn();
  }
}

/** The batch: each task is one top-level span. */
export async function runBatch(): Promise<void> {
  await traced('cpu-heavy', () => cpuChunks(300));

  await traced('memory-heavy', async () => {
    let table: Float64Array | undefined = new Float64Array((200 * MiB) / 8).fill(1);
    await sleep(50);
    table = undefined; // freed before the span ends: resource_tracker.memory.peak still sees it
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(30);
    return table;
  });

  await Promise.all([
    traced('concurrent-a', () => cpuChunks(100)),
    traced('concurrent-b', () => cpuChunks(100)),
  ]);

  await traced('nested-parent', async () => {
    spin(40);
    await traced('nested-child-1', () => cpuChunks(60));
    await traced('nested-child-2', () => cpuChunks(40));
  });

  await traced('shell-out', async () => {
    // A child process that burns ~100 ms of CPU: resource_tracker.children.cpu.time (opt-in) counts it.
    const script =
      'const s=process.cpuUsage();let x=0;for(;;){for(let i=0;i<1e5;i++)x+=i;if(process.cpuUsage(s).user>=1e5)break}';
    await run(process.execPath, ['-e', script]);
  });
}
