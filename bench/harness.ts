import { performance } from 'node:perf_hooks';

export interface Measurement {
  name: string;
  nsPerOp: number;
}

/** Median ns per call of `fn` over several rounds, after a warm-up, so that one noisy round does not decide. */
export function measure(name: string, fn: () => unknown, iterations = 200_000, rounds = 7): Measurement {
  let sink: unknown;
  for (let i = 0; i < Math.min(iterations, 20_000); i++) sink = fn();
  const perRound: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) sink = fn();
    perRound.push(((performance.now() - start) * 1e6) / iterations);
  }
  if (sink === Symbol.for('never')) console.log(sink);
  perRound.sort((a, b) => a - b);
  return { name, nsPerOp: perRound[Math.floor(rounds / 2)] as number };
}

/** Prints measurements as a table with each one's ratio to the baseline measured in the same run. */
export function report(title: string, baseline: Measurement, rows: Measurement[]): void {
  console.log(`\n${title}`);
  console.log(`${'case'.padEnd(58)} ${'ns/op'.padStart(10)} ${'ratio'.padStart(8)}`);
  for (const row of [baseline, ...rows]) {
    console.log(
      `${row.name.padEnd(58)} ${row.nsPerOp.toFixed(0).padStart(10)} ${(row.nsPerOp / baseline.nsPerOp).toFixed(2).padStart(8)}`,
    );
  }
}
