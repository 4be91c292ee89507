import type { Profiler, Session } from 'node:inspector';
import { createRequire } from 'node:module';
import type { Profile } from 'pprof-format';
import type { SamplingBackend } from './sampling-backend.js';
import type { ProfiledSpan } from './span-labels.js';
import { SpanTimeline } from './span-timeline.js';
import { v8ProfileToPprof } from './v8-to-pprof.js';

type InspectorModule = typeof import('node:inspector');
type PprofFormat = typeof import('pprof-format');

/**
 * node:inspector's Profiler (V8's CPU profiler through an in-process inspector session; no native code of ours):
 * its samples carry a timestamp, not a context, so the label binding's changes are kept on a timeline and each
 * sample gets the span current at its time. Same-thread session calls answer synchronously.
 */
export class InspectorBackend implements SamplingBackend {
  readonly name = 'inspector';
  private readonly timeline = new SpanTimeline();
  private periodStartEpochMs = Date.now();

  private constructor(
    private readonly session: Session,
    private readonly format: PprofFormat,
    private readonly intervalMicros: number,
    private readonly onOverflow: () => void,
  ) {}

  /** Loads node:inspector and pprof-format (synchronously: a built-in and a CommonJS build) and starts sampling. */
  static start(intervalMicros: number, onOverflow: () => void): InspectorBackend {
    const require = createRequire(import.meta.url);
    const inspector = require('node:inspector') as InspectorModule;
    const format = require('pprof-format') as PprofFormat;
    const session = new inspector.Session();
    session.connect();
    const backend = new InspectorBackend(session, format, intervalMicros, onOverflow);
    backend.post('Profiler.enable');
    backend.post('Profiler.setSamplingInterval', { interval: intervalMicros });
    backend.post('Profiler.start');
    return backend;
  }

  switchTo(span: ProfiledSpan | undefined): void {
    this.timeline.switchTo(span);
  }

  collect(restart: boolean): Profile {
    const startEpochMs = this.periodStartEpochMs;
    let stopped: Profiler.StopReturnType | undefined;
    try {
      stopped = this.post('Profiler.stop') as Profiler.StopReturnType | undefined;
      this.periodStartEpochMs = Date.now();
      if (restart) this.post('Profiler.start');
      else this.post('Profiler.disable');
    } finally {
      // The last period: the session goes even when the inspector refused to stop (no session left open).
      if (!restart) this.session.disconnect();
    }
    if (this.timeline.overflowed) this.onOverflow();
    const cpuProfile = stopped?.profile;
    const spanAt = this.timeline.drain(cpuProfile?.endTime ?? Number.POSITIVE_INFINITY);
    return v8ProfileToPprof(this.format, cpuProfile, spanAt, this.intervalMicros, startEpochMs);
  }

  /** A same-thread inspector call: the callback runs before `post` returns. */
  private post(method: string, params?: object): unknown {
    let result: unknown;
    let failure: Error | null = null;
    this.session.post(method, params ?? {}, (error: Error | null, answer?: unknown) => {
      failure = error;
      result = answer;
    });
    if (failure !== null) throw failure;
    return result;
  }
}
