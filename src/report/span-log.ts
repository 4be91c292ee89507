import { closeSync, constants, fstatSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openOutputFile } from './output-file.js';

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

/**
 * The most a span log grows to: spans ended once the file is this long are counted, not logged (each writing
 * process adds one line with its count when it shuts down). 16 MiB holds ~80 000 spans, far more than the
 * report's timeline draws.
 */
export const SPAN_LOG_BOUND_BYTES = 16 * 1024 * 1024;
/** Spans drawn on a report's timeline: the first ones. */
export const TIMELINE_SPANS = 5000;

/** The line a writer adds at its shutdown when spans were not logged. */
interface NotLoggedLine {
  readonly notLogged: number;
  readonly pid: number;
}

/**
 * Appends spans to a span log (OTEL_RESOURCE_TRACKER_SPAN_LOG): one descriptor opened at the first span, then one
 * fstat and one write per span (a line of a few hundred bytes, one write: lines of concurrent writers do not
 * interleave). Past SPAN_LOG_BOUND_BYTES spans are counted instead, and the count is logged at `close()`.
 */
export class SpanLogWriter {
  private fd: number | undefined;
  private notLogged = 0;

  constructor(
    private readonly file: string,
    private readonly boundBytes = SPAN_LOG_BOUND_BYTES,
  ) {}

  /** Throws (naming the file) when it cannot be written: a FIFO, a dangling link, no permission. */
  write(span: LoggedSpanEntry): void {
    // 0600 when created: span names may hold URLs and tokens.
    this.fd ??= openOutputFile(this.file, 'append', 0o600);
    if (fstatSync(this.fd).size >= this.boundBytes) {
      this.notLogged++;
      return;
    }
    writeSync(this.fd, `${JSON.stringify(span)}\n`);
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      if (this.notLogged > 0) {
        const line: NotLoggedLine = { notLogged: this.notLogged, pid: process.pid };
        writeSync(this.fd, `${JSON.stringify(line)}\n`);
      }
      closeSync(this.fd);
    } catch {
      // the log is lost, the application nothing
    }
    this.fd = undefined;
    this.notLogged = 0;
  }
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

/** What a span log held: the first TIMELINE_SPANS spans, how many were logged, and how many were not. */
export interface SpanLogContents {
  readonly spans: LoggedSpan[];
  readonly logged: number;
  /** Spans ended past the bound, as counted by the writers that shut down. */
  readonly notLogged: number;
  /** Whether the log reached its bound (spans of writers killed before they could count were lost too). */
  readonly reachedBound: boolean;
}

/** What the report and the summary say about spans left out; undefined when none were. */
export function spansLeftOut(
  contents: SpanLogContents,
  boundBytes = SPAN_LOG_BOUND_BYTES,
): string | undefined {
  const parts: string[] = [];
  if (contents.reachedBound) {
    parts.push(
      `${contents.notLogged > 0 ? contents.notLogged : 'some'} spans not logged past the ${boundBytes / 1048576} MiB bound of the span log`,
    );
  }
  if (contents.logged > contents.spans.length) {
    parts.push(`the timeline shows the first ${contents.spans.length} of ${contents.logged} spans logged`);
  }
  return parts.length === 0 ? undefined : parts.join('; ');
}

/**
 * The private span log of one `run`: a directory only this user can enter (mkdtemp, 0700) holding a file only
 * this user can read (0600, created with O_EXCL and O_NOFOLLOW), whatever the umask. Nobody else can read the span
 * names, swap the file for a link or a FIFO, or predict its name. `remove()` deletes both.
 */
export class PrivateSpanLog {
  readonly file: string;
  private readonly dir: string;

  constructor(parent = tmpdir()) {
    this.dir = mkdtempSync(join(parent, 'otel-resource-tracker-'));
    this.file = join(this.dir, 'spans.jsonl');
    const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = constants;
    closeSync(openSync(this.file, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY, 0o600));
  }

  /** The spans, times relative to the run's start; reads at most the bound and one line per writer beyond it. */
  read(runStartEpochMs: number, boundBytes = SPAN_LOG_BOUND_BYTES): SpanLogContents {
    let text = '';
    let size = 0;
    try {
      const fd = openSync(this.file, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        size = fstatSync(fd).size;
        // The bound, plus room for the writers' count lines: a file grown past that is not read beyond it.
        const buffer = Buffer.alloc(Math.min(size, boundBytes + 1024 * 1024));
        const length = readSync(fd, buffer, 0, buffer.length, 0);
        text = buffer.toString('utf8', 0, length);
      } finally {
        closeSync(fd);
      }
    } catch {
      // no log: no spans
    }
    const spans: LoggedSpan[] = [];
    let logged = 0;
    let notLogged = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const entry = JSON.parse(line) as LoggedSpanEntry | NotLoggedLine;
        if ('notLogged' in entry) {
          notLogged += entry.notLogged;
          continue;
        }
        logged++;
        if (spans.length < TIMELINE_SPANS) spans.push(relativeSpan(entry, runStartEpochMs));
      } catch {
        // a line cut short by a process killed mid-write
      }
    }
    return { spans, logged, notLogged, reachedBound: notLogged > 0 || size >= boundBytes };
  }

  /** Deletes the log and its directory (every exit path of the wrapper calls it; a second call does nothing). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
