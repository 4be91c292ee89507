import { appendFileSync, readFileSync, rmSync } from 'node:fs';

/** One span on the report's timeline. */
export interface LoggedSpan {
  readonly name: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  /** ms since the run started. */
  readonly startMs: number;
  readonly endMs: number;
  readonly pid: number;
}

/** A span as logged: wall-clock times (epoch ms), made relative to the run's start when read. */
export type LoggedSpanEntry = Omit<LoggedSpan, 'startMs' | 'endMs'> & {
  readonly startEpochMs: number;
  readonly endEpochMs: number;
};

/** Appends one span (a few hundred bytes, one write: lines of concurrent writers do not interleave). */
export function logSpan(file: string, span: LoggedSpanEntry): void {
  appendFileSync(file, `${JSON.stringify(span)}\n`);
}

/** A logged span, times relative to the start of the run or process. */
export function relativeSpan(entry: LoggedSpanEntry, startEpochMs: number): LoggedSpan {
  return {
    name: entry.name,
    spanId: entry.spanId,
    parentSpanId: entry.parentSpanId,
    startMs: entry.startEpochMs - startEpochMs,
    endMs: entry.endEpochMs - startEpochMs,
    pid: entry.pid,
  };
}

/** The spans logged during a run, times relative to its start; the file is removed. At most 5 000, the first ones. */
export function readSpanLog(file: string, runStartEpochMs: number): LoggedSpan[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  rmSync(file, { force: true });
  const spans: LoggedSpan[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || spans.length >= 5000) continue;
    try {
      spans.push(relativeSpan(JSON.parse(line) as LoggedSpanEntry, runStartEpochMs));
    } catch {
      // a line cut short by a process killed mid-write
    }
  }
  return spans;
}
