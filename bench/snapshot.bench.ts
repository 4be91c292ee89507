import { calculateResourceUsage, captureResourceSnapshot, ResourceTracker } from '../src/index.js';
import { processMemoryProbe } from '../src/probes/process-memory.js';
import { measure, report } from './harness.js';

/** Cost of a snapshot and of a whole tracked no-op, against the syscalls they are built from. */
export function benchSnapshot(): void {
  const resourceUsage = measure('process.resourceUsage() [baseline]', () => process.resourceUsage());
  const rss = measure('process.memoryUsage.rss()', () => process.memoryUsage.rss());
  const statm = measure('statm probe (one pread: RSS + VMS)', () => processMemoryProbe.read());
  // The cheapest real way to read what a snapshot holds: one getrusage and one pread of statm.
  const floor = measure('floor: resourceUsage() + one statm pread', () => {
    process.resourceUsage();
    return processMemoryProbe.read();
  });
  const viaMemoryUsage = measure('resourceUsage() + memoryUsage.rss()', () => {
    process.resourceUsage();
    return process.memoryUsage.rss();
  });
  const snapshot = measure('captureResourceSnapshot()', () => captureResourceSnapshot());
  const start = captureResourceSnapshot();
  const end = captureResourceSnapshot();
  const usage = measure('calculateResourceUsage(start, end)', () => calculateResourceUsage(start, end));
  const tracked = measure('ResourceTracker.track(() => {}) (two snapshots + usage)', () =>
    ResourceTracker.track(() => undefined),
  );
  report('Snapshot cost (ratios against one process.resourceUsage() in the same run)', resourceUsage, [
    rss,
    statm,
    floor,
    viaMemoryUsage,
    snapshot,
    usage,
    tracked,
  ]);
  console.log(
    `snapshot / floor (getrusage + statm pread) = ${(snapshot.nsPerOp / floor.nsPerOp).toFixed(2)}; ` +
      `tracked no-op / (2 x floor) = ${(tracked.nsPerOp / (2 * floor.nsPerOp)).toFixed(2)}`,
  );
}
