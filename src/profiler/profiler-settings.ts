import {
  ConfigError,
  ENV_PROFILE_DIR,
  ENV_PROFILE_MAX_BYTES,
  ENV_PROFILE_MAX_FILES,
  ENV_PROFILE_PERIOD_MS,
  ENV_PROFILE_SAMPLE_INTERVAL_US,
  ENV_PROFILER,
  ENV_PROFILER_BACKEND,
  type Environment,
  readChoice,
  readInteger,
  readString,
} from '../config/env.js';
import { assertPlainOptions, describe, orDefault } from '../internal/validate.js';

/** What the profiler can be: off (the default), or a CPU profile split by span. */
export const PROFILER_MODES = ['off', 'cpu'] as const;
export type ProfilerMode = (typeof PROFILER_MODES)[number];

/**
 * Which sampler: `auto` takes @datadog/pprof's time profiler when its native module loads, else node:inspector's
 * Profiler; the other two force one (tests, or a platform where the native module misbehaves).
 */
export const PROFILER_BACKENDS = ['auto', 'pprof', 'inspector'] as const;
export type ProfilerBackendName = (typeof PROFILER_BACKENDS)[number];

/** The details of the CPU profiler (processor option `profile`); every field has a default. */
export interface ProfileOptions {
  /** Where the `cpu-<pid>-<time>.pb.gz` files go. Default `./profiles` (created when the profiler starts). */
  directory?: string;
  /** Microseconds between samples. Default 10 000 (100 Hz). */
  sampleIntervalMicros?: number;
  /** One file per this many milliseconds (and a last one at shutdown and exit). Default 10 000. */
  periodMs?: number;
  /** Keep at most this many profile files in the directory (oldest removed first). Default 100. */
  maxFiles?: number;
  /** Keep at most this many bytes of profile files in the directory (oldest removed first). Default 100 MiB. */
  maxBytes?: number;
  /** Default `auto`. */
  backend?: ProfilerBackendName;
  /** Where a problem (unwritable directory, full disk, no sampler) is said, once each. Default: the diag logger. */
  onProblem?: (message: string) => void;
}

export interface ProfileSettings {
  readonly directory: string;
  readonly sampleIntervalMicros: number;
  readonly periodMs: number;
  readonly maxFiles: number;
  readonly maxBytes: number;
  readonly backend: ProfilerBackendName;
  readonly onProblem: ((message: string) => void) | undefined;
}

export const DEFAULT_PROFILE_DIRECTORY = './profiles';
export const DEFAULT_SAMPLE_INTERVAL_MICROS = 10_000;
export const DEFAULT_PROFILE_PERIOD_MS = 10_000;
export const DEFAULT_PROFILE_MAX_FILES = 100;
export const DEFAULT_PROFILE_MAX_BYTES = 100 * 1024 * 1024;

const WHAT = 'ResourceSpanProcessor options.profile';
const KEYS = [
  'directory',
  'sampleIntervalMicros',
  'periodMs',
  'maxFiles',
  'maxBytes',
  'backend',
  'onProblem',
];

function integerIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${WHAT}.${name} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** The processor options `profiler` and `profile`, checked: undefined when the profiler is off. */
export function resolveProfileSettings(
  mode: unknown,
  options: ProfileOptions | undefined,
): ProfileSettings | undefined {
  const chosen = orDefault(mode, 'off');
  if (!(PROFILER_MODES as readonly unknown[]).includes(chosen)) {
    throw new TypeError(
      `ResourceSpanProcessor options.profiler must be one of ${PROFILER_MODES.map((m) => `"${m}"`).join(', ')}, got ${describe(chosen)}`,
    );
  }
  assertPlainOptions(options, WHAT, KEYS);
  if (chosen === 'off') return undefined;
  const given = options ?? {};
  const directory = orDefault(given.directory, DEFAULT_PROFILE_DIRECTORY);
  if (typeof directory !== 'string' || directory.trim() === '') {
    throw new TypeError(`${WHAT}.directory must be a non-empty path, got ${describe(directory)}`);
  }
  const backend = orDefault(given.backend, 'auto');
  if (!(PROFILER_BACKENDS as readonly unknown[]).includes(backend)) {
    throw new TypeError(
      `${WHAT}.backend must be one of ${PROFILER_BACKENDS.map((b) => `"${b}"`).join(', ')}, got ${describe(backend)}`,
    );
  }
  if (given.onProblem !== undefined && typeof given.onProblem !== 'function') {
    throw new TypeError(`${WHAT}.onProblem must be a function, got ${describe(given.onProblem)}`);
  }
  return {
    directory,
    // 100 µs (10 kHz) is as fast as V8's sampler is worth; 1 s is as slow as a profile is still a profile.
    sampleIntervalMicros: integerIn(
      orDefault(given.sampleIntervalMicros, DEFAULT_SAMPLE_INTERVAL_MICROS),
      'sampleIntervalMicros',
      100,
      1_000_000,
    ),
    periodMs: integerIn(orDefault(given.periodMs, DEFAULT_PROFILE_PERIOD_MS), 'periodMs', 100, 86_400_000),
    maxFiles: integerIn(orDefault(given.maxFiles, DEFAULT_PROFILE_MAX_FILES), 'maxFiles', 1, 1_000_000),
    maxBytes: integerIn(
      orDefault(given.maxBytes, DEFAULT_PROFILE_MAX_BYTES),
      'maxBytes',
      1024,
      Number.MAX_SAFE_INTEGER,
    ),
    backend,
    onProblem: given.onProblem,
  };
}

/** What the zero-code entry reads of the profiler's variables: options when on, or the one problem to say. */
export interface ProfilerEnvironment {
  readonly options: { profiler: 'cpu'; profile: ProfileOptions } | undefined;
  readonly problem: string | undefined;
}

/**
 * OTEL_RESOURCE_TRACKER_PROFILER and its companions. A bad value here does not stop tracing (the issue asks that
 * the application and its spans go on): it turns the profiler off, and the problem names the variable.
 */
export function readProfilerEnvironment(env: Environment): ProfilerEnvironment {
  try {
    const mode = readChoice(env, ENV_PROFILER, PROFILER_MODES, 'off');
    if (mode === 'off') return { options: undefined, problem: undefined };
    const profile: ProfileOptions = {
      directory: readString(env, ENV_PROFILE_DIR) ?? DEFAULT_PROFILE_DIRECTORY,
      sampleIntervalMicros: readInteger(
        env,
        ENV_PROFILE_SAMPLE_INTERVAL_US,
        100,
        1_000_000,
        DEFAULT_SAMPLE_INTERVAL_MICROS,
      ),
      periodMs: readInteger(env, ENV_PROFILE_PERIOD_MS, 100, 86_400_000, DEFAULT_PROFILE_PERIOD_MS),
      maxFiles: readInteger(env, ENV_PROFILE_MAX_FILES, 1, 1_000_000, DEFAULT_PROFILE_MAX_FILES),
      maxBytes: readInteger(
        env,
        ENV_PROFILE_MAX_BYTES,
        1024,
        Number.MAX_SAFE_INTEGER,
        DEFAULT_PROFILE_MAX_BYTES,
      ),
      backend: readChoice(env, ENV_PROFILER_BACKEND, PROFILER_BACKENDS, 'auto'),
    };
    return { options: { profiler: 'cpu', profile }, problem: undefined };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { options: undefined, problem: `${error.message}. The profiler is off; tracing goes on.` };
  }
}
