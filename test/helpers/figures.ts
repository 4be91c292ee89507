import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One row of the fault suite's report: what was injected, how often, what the package did, what was lost. */
export interface FaultFigure {
  area: string;
  injected: string;
  times: number;
  outcome: string;
  lost: string;
}

const figures: FaultFigure[] = [];

export function recordFigure(figure: FaultFigure): void {
  figures.push(figure);
}

/** Writes the rows as a Markdown table to build/reliability-figures.md (the compiled helper lives in build/test/helpers) and prints it (the README quotes a run). */
export function writeFigures(): void {
  if (figures.length === 0) return;
  const lines = [
    '| area | fault injected | times | what the package did | lost |',
    '|---|---|---:|---|---|',
    ...figures.map(
      (row) =>
        `| ${row.area} | ${row.injected} | ${row.times.toLocaleString('en-US')} | ${row.outcome} | ${row.lost} |`,
    ),
  ];
  const path = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'reliability-figures.md'); // build/
  writeFileSync(path, `${lines.join('\n')}\n`);
  console.log(`\n  Fault suite figures (also in ${path}):\n${lines.map((line) => `  ${line}`).join('\n')}\n`);
}
