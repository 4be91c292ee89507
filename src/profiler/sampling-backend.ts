import type { Profile } from 'pprof-format';
import type { ProfiledSpan } from './span-labels.js';

/** The pprof label keys every sample in a span carries. */
export const SPAN_LABEL_KEYS = ['span_id', 'span_name', 'trace_id'] as const;

/** A sampler of the JavaScript thread's stacks that labels each sample with the span current when it was taken. */
export interface SamplingBackend {
  /** `pprof` (@datadog/pprof's time profiler) or `inspector` (node:inspector's Profiler). */
  readonly name: 'pprof' | 'inspector';
  /** The innermost measured span of the running code changed (undefined: none). Called on the span path. */
  switchTo(span: ProfiledSpan | undefined): void;
  /** The profile since the last collect (or the start): sampling goes on when `restart`, stops for good otherwise. */
  collect(restart: boolean): Profile;
}
