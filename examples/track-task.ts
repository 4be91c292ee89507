/**
 * Demo: measure a CPU- and memory-heavy task with the standalone API and print what it cost.
 * Run with `npm run demo:standalone`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ResourceTracker, resourceUsageToDict } from '../src/index.js';

const MiB = 1024 * 1024;

/** Builds a 256 MiB table, hashes through it for a while, and lets it go before the task ends. */
async function heavyTask(): Promise<number> {
  let table: Float64Array | undefined = new Float64Array((256 * MiB) / 8);
  for (let i = 0; i < table.length; i++) table[i] = Math.sin(i);
  let checksum = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < table.length; i += 7) checksum = (checksum + (table[i] ?? 0) * pass) % 1e9;
    await sleep(50); // an I/O-like pause: wall time without CPU
  }
  table = undefined; // freed before the task ends: only a real peak measurement still sees it
  // The demo runs with --expose-gc so that the memory really leaves before the end; real tasks leave it to V8.
  (globalThis as { gc?: () => void }).gc?.();
  await sleep(20);
  return checksum;
}

const usage = await ResourceTracker.track(heavyTask);
const rows: Array<[string, string]> = [
  ['CPU time (user + system)', `${usage.cpuTimeSeconds.toFixed(3)} s`],
  ['  user / system', `${usage.cpuUserSeconds.toFixed(3)} s / ${usage.cpuSystemSeconds.toFixed(3)} s`],
  ['Wall clock', `${usage.wallClockSeconds.toFixed(3)} s`],
  ['CPU utilisation', `${((100 * usage.cpuTimeSeconds) / usage.wallClockSeconds).toFixed(0)} % of one core`],
  [
    'RSS at start / end',
    `${(usage.memoryStartBytes / MiB).toFixed(1)} / ${(usage.memoryEndBytes / MiB).toFixed(1)} MiB`,
  ],
  [
    'Peak RSS inside the task',
    `${(usage.peakMemoryBytes / MiB).toFixed(1)} MiB (from ${usage.peakMemorySource})`,
  ],
  ['GPU memory used', `${(usage.gpuVramUsedBytes / MiB).toFixed(1)} MiB`],
];
console.log('What the task cost:');
for (const [label, value] of rows) console.log(`  ${label.padEnd(28)} ${value}`);
console.log('\nAs an audit record (resourceUsageToDict):');
console.log(`  ${JSON.stringify(resourceUsageToDict(usage))}`);
