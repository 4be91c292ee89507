import { createRequire } from 'node:module';
import type { Profile } from 'pprof-format';
import type { SamplingBackend } from './sampling-backend.js';
import { type ProfiledSpan, spanLabels } from './span-labels.js';

type PprofModule = typeof import('@datadog/pprof');

/**
 * @datadog/pprof's time profiler (a native module; the way Pyroscope's and Datadog's Node profilers work): V8's
 * sampler plus a "current context" slot the native code reads at each sample. The slot holds the current span,
 * set by the label binding at every change; each sample's labels are that span's ids and name.
 */
export class PprofBackend implements SamplingBackend {
  readonly name = 'pprof';

  private constructor(private readonly pprof: PprofModule) {}

  /**
   * Loads the native module (synchronously: a CommonJS package) and starts sampling; throws when it cannot (not
   * installed, or no prebuilt binary for this Node).
   */
  static start(intervalMicros: number, periodMs: number): PprofBackend {
    const pprof = createRequire(import.meta.url)('@datadog/pprof') as PprofModule;
    pprof.time.start({
      intervalMicros,
      durationMillis: periodMs,
      withContexts: true,
      collectCpuTime: true,
      lineNumbers: false,
    });
    return new PprofBackend(pprof);
  }

  switchTo(span: ProfiledSpan | undefined): void {
    this.pprof.time.setContext(span);
  }

  collect(restart: boolean): Profile {
    return this.pprof.time.stop(restart, ({ context }) => {
      // Outside spans the slot holds undefined, or the empty object the profiler starts with.
      const span = context?.context as Partial<ProfiledSpan> | undefined;
      return span?.spanId === undefined ? {} : spanLabels(span as ProfiledSpan);
    }) as unknown as Profile;
  }
}
