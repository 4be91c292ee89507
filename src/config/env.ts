import { describe } from '../internal/validate.js';

/**
 * Environment variables are read in one place, and a bad value is an error that names the variable, shows the value
 * (cut and escaped: see `describe`) and says what is accepted. One error may carry several bad variables, one line
 * each (ConfigProblems gathers them); its message is those lines.
 */
export class ConfigError extends Error {
  /** One line per bad variable. */
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const lines = typeof problems === 'string' ? [problems] : [...problems];
    super(lines.join('\n'));
    this.name = 'ConfigError';
    this.problems = lines;
  }
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** One of `allowed` (case-insensitive, trimmed), `fallback` when unset or empty. */
export function readChoice<T extends string>(
  env: Environment,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  const match = allowed.find((value) => value === raw);
  if (match === undefined) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}; got ${describe(env[name])}`);
  }
  return match;
}

/** A non-empty string, or undefined when unset or empty. */
export function readString(env: Environment, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

/**
 * A whole number in [min, max] written in decimal digits (surrounding blanks trimmed, as for every variable),
 * `fallback` when unset or empty. Not `Number(raw)`: it reads "0x10" as 16, "1e3" as 1000 and "0b1" as 1, none of
 * which a person writing a port or a number of milliseconds means.
 */
export function readInteger(
  env: Environment,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    // "0x10", "1e3", "2.5", "+5": a number to JavaScript, so say which numbers are meant here ("-5" is merely out
    // of range).
    const numberLike = Number.isFinite(Number(raw)) && !/^-?\d+$/.test(raw);
    const what = numberLike
      ? `an integer from ${min} to ${max}, in decimal digits`
      : `a number from ${min} to ${max}`;
    throw new ConfigError(`${name} must be ${what}; got ${describe(env[name])}`);
  }
  return value;
}

const TRUE_SPELLINGS = ['true', '1', 'yes', 'on'];
const FALSE_SPELLINGS = ['false', '0', 'no', 'off'];

/** The boolean a spelling stands for (case-insensitive, trimmed); undefined when it is none of them. */
export function booleanSpelling(value: string): boolean | undefined {
  const raw = value.trim().toLowerCase();
  if (TRUE_SPELLINGS.includes(raw)) return true;
  if (FALSE_SPELLINGS.includes(raw)) return false;
  return undefined;
}

/** What a boolean variable accepts, for messages. */
export const BOOLEAN_SPELLINGS = `${TRUE_SPELLINGS.join(', ')} or ${FALSE_SPELLINGS.join(', ')} (any case)`;

/** true / false (also 1 / 0, yes / no, on / off), `fallback` when unset or empty. */
export function readBoolean(env: Environment, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = booleanSpelling(raw);
  if (value === undefined)
    throw new ConfigError(`${name} must be ${BOOLEAN_SPELLINGS}; got ${describe(env[name])}`);
  return value;
}

/**
 * A comma list whose entries are all in `allowed` (case-insensitive, duplicates dropped), `fallback` when unset or
 * empty. `alone` entries ("none", "all") cannot be combined with others.
 */
export function readChoices<T extends string>(
  env: Environment,
  name: string,
  allowed: readonly T[],
  fallback: readonly T[],
  alone: readonly T[] = [],
): T[] {
  const entries = readList(env, name)?.map((entry) => entry.toLowerCase());
  if (entries === undefined) return [...fallback];
  const unknown = entries.find((entry) => !(allowed as readonly string[]).includes(entry));
  if (unknown !== undefined) {
    throw new ConfigError(`${name} must list some of ${allowed.join(', ')}; got ${describe(unknown)}`);
  }
  const chosen = [...new Set(entries as T[])];
  const single = chosen.find((entry) => alone.includes(entry));
  if (single !== undefined && chosen.length > 1) {
    throw new ConfigError(`${name} cannot combine "${single}" with other values; got ${describe(env[name])}`);
  }
  return chosen;
}

/** A comma-separated list (entries trimmed, empty ones dropped); undefined when unset or empty. */
export function readList(env: Environment, name: string): string[] | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

export const ENV_GPU_PROVIDER = 'OTEL_RESOURCE_TRACKER_GPU_PROVIDER';
export const ENV_NVML_LIBRARY = 'OTEL_RESOURCE_TRACKER_NVML_LIBRARY';
export const ENV_NVIDIA_SMI_TIMEOUT_MS = 'OTEL_RESOURCE_TRACKER_NVIDIA_SMI_TIMEOUT_MS';
export const ENV_GPU_SAMPLE_INTERVAL_MS = 'OTEL_RESOURCE_TRACKER_GPU_SAMPLE_INTERVAL_MS';
export const ENV_GPU_ACTIVE_SAMPLE_INTERVAL_MS = 'OTEL_RESOURCE_TRACKER_GPU_ACTIVE_SAMPLE_INTERVAL_MS';
export const ENV_GPU_DEVICES = 'OTEL_RESOURCE_TRACKER_GPU_DEVICES';
/** Where procfs and sysfs are mounted, for the DRM GPU provider (node_exporter's --path.procfs / --path.sysfs). */
export const ENV_PROCFS_ROOT = 'OTEL_RESOURCE_TRACKER_PROCFS_ROOT';
export const ENV_SYSFS_ROOT = 'OTEL_RESOURCE_TRACKER_SYSFS_ROOT';
export const ENV_METRICS = 'OTEL_RESOURCE_TRACKER_METRICS';
export const ENV_SPAN_HISTOGRAMS = 'OTEL_RESOURCE_TRACKER_SPAN_HISTOGRAMS';
export const ENV_SPAN_NAMES = 'OTEL_RESOURCE_TRACKER_SPAN_NAMES';
export const ENV_CPU_ATTRIBUTION = 'OTEL_RESOURCE_TRACKER_CPU_ATTRIBUTION';
export const ENV_CHILD_PROCESSES = 'OTEL_RESOURCE_TRACKER_CHILD_PROCESSES';
export const ENV_EXACT_MEMORY = 'OTEL_RESOURCE_TRACKER_EXACT_MEMORY';
/** Which keys measured spans carry: `default`, `full`, or a comma list of keys. */
export const ENV_ATTRIBUTES = 'OTEL_RESOURCE_TRACKER_ATTRIBUTES';
export const ENV_TRACES_EXPORTER = 'OTEL_TRACES_EXPORTER';
export const ENV_OTLP_PROTOCOL = 'OTEL_EXPORTER_OTLP_PROTOCOL';
export const ENV_OTLP_TRACES_PROTOCOL = 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL';
export const ENV_PROMETHEUS_HOST = 'OTEL_EXPORTER_PROMETHEUS_HOST';
export const ENV_PROMETHEUS_PORT = 'OTEL_EXPORTER_PROMETHEUS_PORT';
export const ENV_SPAN_KINDS = 'OTEL_RESOURCE_TRACKER_SPAN_KINDS';
/**
 * Set by `otel-resource-tracker run --report` for the command: a file where the zero-code entry in the command (and
 * its Node descendants) appends each span it ends, one JSON line, for the report's timeline.
 */
export const ENV_SPAN_LOG = 'OTEL_RESOURCE_TRACKER_SPAN_LOG';
/** With the zero-code entry: write the run report of this process to this .html file at exit. */
export const ENV_REPORT = 'OTEL_RESOURCE_TRACKER_REPORT';
/** CPU profiles split by span (docs/profiler.md): `off` (default) or `cpu`. */
export const ENV_PROFILER = 'OTEL_RESOURCE_TRACKER_PROFILER';
/** Microseconds between profile samples (default 10 000: 100 Hz). */
export const ENV_PROFILE_SAMPLE_INTERVAL_US = 'OTEL_RESOURCE_TRACKER_PROFILE_SAMPLE_INTERVAL_US';
/** Where the `cpu-<pid>-<time>.pb.gz` files go (default ./profiles). */
export const ENV_PROFILE_DIR = 'OTEL_RESOURCE_TRACKER_PROFILE_DIR';
/** One profile file per this many milliseconds (default 10 000). */
export const ENV_PROFILE_PERIOD_MS = 'OTEL_RESOURCE_TRACKER_PROFILE_PERIOD_MS';
/** Keep at most this many profile files (default 100). */
export const ENV_PROFILE_MAX_FILES = 'OTEL_RESOURCE_TRACKER_PROFILE_MAX_FILES';
/** Keep at most this many bytes of profile files (default 104857600). */
export const ENV_PROFILE_MAX_BYTES = 'OTEL_RESOURCE_TRACKER_PROFILE_MAX_BYTES';
/** `auto` (default), `pprof` (@datadog/pprof) or `inspector` (node:inspector). */
export const ENV_PROFILER_BACKEND = 'OTEL_RESOURCE_TRACKER_PROFILER_BACKEND';
export const ENV_METRICS_EXPORTER = 'OTEL_METRICS_EXPORTER';
export const ENV_LOGS_EXPORTER = 'OTEL_LOGS_EXPORTER';
export const ENV_OTLP_METRICS_PROTOCOL = 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL';
export const ENV_OTLP_METRICS_HISTOGRAM_AGGREGATION =
  'OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION';
export const ENV_METRIC_EXPORT_INTERVAL = 'OTEL_METRIC_EXPORT_INTERVAL';
export const ENV_METRIC_EXPORT_TIMEOUT = 'OTEL_METRIC_EXPORT_TIMEOUT';
export const ENV_RESOURCE_DETECTORS = 'OTEL_NODE_RESOURCE_DETECTORS';
export const ENV_ENABLED_INSTRUMENTATIONS = 'OTEL_NODE_ENABLED_INSTRUMENTATIONS';
export const ENV_DISABLED_INSTRUMENTATIONS = 'OTEL_NODE_DISABLED_INSTRUMENTATIONS';

/** Our prefix: every variable of ours starts with it. */
export const ENV_PREFIX = 'OTEL_RESOURCE_TRACKER_';

/** Every variable of ours, for the "unknown variable" warning. */
export const KNOWN_VARIABLES: readonly string[] = [
  ENV_GPU_PROVIDER,
  ENV_NVML_LIBRARY,
  ENV_NVIDIA_SMI_TIMEOUT_MS,
  ENV_GPU_SAMPLE_INTERVAL_MS,
  ENV_GPU_ACTIVE_SAMPLE_INTERVAL_MS,
  ENV_GPU_DEVICES,
  ENV_PROCFS_ROOT,
  ENV_SYSFS_ROOT,
  ENV_METRICS,
  ENV_SPAN_HISTOGRAMS,
  ENV_SPAN_NAMES,
  ENV_CPU_ATTRIBUTION,
  ENV_CHILD_PROCESSES,
  ENV_EXACT_MEMORY,
  ENV_ATTRIBUTES,
  ENV_SPAN_KINDS,
  ENV_SPAN_LOG,
  ENV_REPORT,
  ENV_PROFILER,
  ENV_PROFILE_SAMPLE_INTERVAL_US,
  ENV_PROFILE_DIR,
  ENV_PROFILE_PERIOD_MS,
  ENV_PROFILE_MAX_FILES,
  ENV_PROFILE_MAX_BYTES,
  ENV_PROFILER_BACKEND,
];

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * One warning per variable with our prefix that we do not know (a typo is otherwise silently ignored), naming the
 * closest known one: `OTEL_RESOURCE_TRACKER_SPANNAMES is not a variable of otel-resource-tracker and is ignored;
 * did you mean OTEL_RESOURCE_TRACKER_SPAN_NAMES?`.
 */
export function unknownVariableWarnings(env: Environment): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && !KNOWN_VARIABLES.includes(name))
    .sort()
    .map((name) => {
      const closest = [...KNOWN_VARIABLES].sort((a, b) => editDistance(name, a) - editDistance(name, b))[0];
      return `${name} is not a variable of otel-resource-tracker and is ignored; did you mean ${closest}?`;
    });
}

let unknownVariablesSaid = false;

/** The unknown-variable warnings, the first time in this process only (the zero-code entry and every processor ask). */
export function unknownVariableWarningsOnce(env: Environment = process.env): string[] {
  if (unknownVariablesSaid) return [];
  unknownVariablesSaid = true;
  return unknownVariableWarnings(env);
}
