import { type Attributes, type MeterProvider, type SpanContext, SpanKind } from '@opentelemetry/api';
import { assertPlainOptions, booleanOption, describe, orDefault } from '../internal/validate.js';
import {
  DEFAULT_SPAN_HISTOGRAMS,
  SPAN_HISTOGRAM_KINDS,
  type SpanHistogramKind,
} from '../metrics/span-histograms.js';
import {
  type ProfileOptions,
  type ProfilerMode,
  type ProfileSettings,
  resolveProfileSettings,
} from '../profiler/profiler-settings.js';
import * as keys from './attribute-keys.js';
import { SPAN_ATTRIBUTE_SET_ACCEPTS, type SpanAttributeSet, spanAttributeKeys } from './attribute-set.js';

/** Attribute groups a processor can set; see the README's attribute reference. */
export const ATTRIBUTE_GROUPS = ['cpu', 'attribution', 'memory', 'gpu'] as const;
export type AttributeGroup = (typeof ATTRIBUTE_GROUPS)[number];

/** The group each selectable key belongs to: `attributeGroups` narrows the chosen set by group. */
const GROUP_OF_KEY: Readonly<Record<string, AttributeGroup>> = {
  [keys.ATTR_CPU_TIME]: 'cpu',
  [keys.ATTR_CPU_USER_TIME]: 'cpu',
  [keys.ATTR_CPU_SYSTEM_TIME]: 'cpu',
  [keys.ATTR_CPU_AVERAGE_CORES]: 'cpu',
  [keys.ATTR_WALL_TIME]: 'cpu',
  [keys.ATTR_CPU_SCOPE]: 'cpu',
  [keys.ATTR_CPU_ATTRIBUTED_TIME]: 'attribution',
  [keys.ATTR_CONCURRENT_SPANS]: 'attribution',
  [keys.ATTR_MEMORY_START]: 'memory',
  [keys.ATTR_MEMORY_END]: 'memory',
  [keys.ATTR_MEMORY_DELTA]: 'memory',
  [keys.ATTR_MEMORY_PEAK]: 'memory',
  // Why a span was slow: what held its CPU back goes with the CPU, the memory limit with the memory.
  [keys.ATTR_GC_PAUSE_TIME]: 'cpu',
  [keys.ATTR_GC_COUNT]: 'cpu',
  [keys.ATTR_EVENT_LOOP_UTILIZATION]: 'cpu',
  [keys.ATTR_CPU_THROTTLED_TIME]: 'cpu',
  [keys.ATTR_CPU_WAIT_TIME]: 'cpu',
  [keys.ATTR_CPU_LIMIT]: 'cpu',
  [keys.ATTR_MEMORY_LIMIT]: 'memory',
};

/**
 * How `resource_tracker.cpu.attributed_time` is found when spans overlap:
 * - `async-context` (default): the time each callback runs goes to the span active in its async context and to
 *   that span's ancestors (async hooks marking with the monotonic clock, reconciled with the kernel's CPU
 *   figures in the background; see docs/attribution.md);
 * - `fair-share`: CPU used while several spans were open is split equally between them (no async hooks; blind
 *   to who actually ran);
 * - `exact`: the former name of `async-context`, still accepted.
 */
export type CpuAttribution = 'async-context' | 'fair-share' | 'exact';

export const CPU_ATTRIBUTIONS: readonly CpuAttribution[] = ['async-context', 'fair-share', 'exact'];

/** What a span filter sees of a span when it starts. */
export interface SpanSelector {
  readonly name: string;
  readonly kind: SpanKind;
  readonly attributes: Attributes;
  /** Absent or remote on a local root span (the first span of a request or job in this process). */
  readonly parentSpanContext?: SpanContext | undefined;
  /** The tracer that made the span. */
  readonly instrumentationScope?: { readonly name: string } | undefined;
}

/**
 * Beside the SpanKind values, `spanKinds` takes two roles: `local_root`, a span with no parent in this process
 * (the request a SERVER span stands for, a job's root span, whatever its kind), and `manual`, a span from a tracer
 * that is not an instrumentation library (one whose scope name does not contain "instrumentation": the
 * application's own spans).
 */
export const SPAN_ROLES = ['local_root', 'manual'] as const;
export type SpanRole = (typeof SPAN_ROLES)[number];

const INSTRUMENTATION_SCOPE = /instrumentation/i;

function hasRole(span: SpanSelector, role: SpanRole): boolean {
  if (role === 'local_root')
    return span.parentSpanContext === undefined || span.parentSpanContext.isRemote === true;
  return !INSTRUMENTATION_SCOPE.test(span.instrumentationScope?.name ?? '');
}

export interface ResourceSpanProcessorOptions {
  /** Measure only spans whose name equals one of these strings or matches one of these patterns. Default: all. */
  spanNames?: ReadonlyArray<string | RegExp>;
  /**
   * Measure only spans of these kinds or roles (see SPAN_ROLES): e.g. `[SpanKind.SERVER, 'local_root', 'manual']`
   * measures requests and the application's own spans, not every middleware and client span. Default: all.
   */
  spanKinds?: ReadonlyArray<SpanKind | SpanRole>;
  /** Measure only spans for which this returns true (called at span start; a throw counts as false). */
  spanFilter?: (span: SpanSelector) => boolean;
  /**
   * Which keys to set: `default` (CPU time, attributed CPU, peak RSS; on a GPU host the GPU's peak, this process's
   * GPU memory and which GPU; `resource_tracker.cpu.scope` in worker threads), `full` (every key, the duration
   * and the start / end / delta figures included), or a list of keys (SpanAttributes.ATTR_*). Each key costs CPU
   * to export and bytes to store on every measured span. Default `default`.
   */
  attributes?: SpanAttributeSet;
  /** Narrows `attributes` to the keys of these groups. Default: all of `cpu`, `attribution`, `memory`, `gpu`. */
  attributeGroups?: readonly AttributeGroup[];
  /** Default `async-context` (see docs/attribution.md for the measurements behind that choice). */
  cpuAttribution?: CpuAttribution;
  /** Read RSS fresh at every span start and end (one `pread` each) instead of the sampler's cached value. */
  exactMemory?: boolean;
  /** Add `resource_tracker.children.cpu.time`: CPU of child processes that ended during the span (Linux). Default false. */
  childProcesses?: boolean;
  /** Set GPU attributes when a GPU is visible. Default true. */
  gpu?: boolean;
  /** Which GPUs (as CUDA in this process numbers them), or `all`. Default [0]. Several: numbers are summed. */
  gpuDevices?: readonly number[] | 'all';
  /**
   * A span open longer than this (seconds; counted from its top-level span) stops counting in
   * `resource_tracker.concurrent_spans` (and in fair-share's split), so that spans that are never ended but stay
   * referenced cannot skew the others forever; unreferenced ones stop counting as soon as they are garbage.
   * Default 3600; `Infinity` disables.
   */
  maxSpanOpenSeconds?: number;
  /**
   * Also record per-span-name histograms (attributed CPU seconds and peak RSS) with this meter provider (e.g. the
   * one `startPrometheusEndpoint` returns). Default: none (about 1.1 µs a span when on).
   */
  meterProvider?: MeterProvider;
  /**
   * Which span histograms to record: `cpu`, `memory`, `wall`. Default `['cpu', 'memory']` (36 series per span
   * name); `wall` repeats the span's duration, which traces and span metrics already give (+18 series a name).
   */
  spanHistograms?: readonly SpanHistogramKind[];
  /** Distinct span names the histograms keep before folding the rest into `_other`. Default 100. */
  maxSpanNames?: number;
  /**
   * `cpu`: a CPU profile of the process, each sample labelled with the innermost measured span (`span_id`,
   * `span_name`, `trace_id`), written as gzip-compressed pprof files (docs/profiler.md). Default `off`.
   */
  profiler?: ProfilerMode;
  /** The profiler's directory, sampling interval, period, disk bound and sampler (see ProfileOptions). */
  profile?: ProfileOptions;
}

export interface ResolvedOptions {
  readonly selects: ((span: SpanSelector) => boolean) | undefined;
  readonly groups: ReadonlySet<AttributeGroup>;
  /** The keys to set: the chosen set, narrowed to the chosen groups. */
  readonly attributes: ReadonlySet<string>;
  readonly cpuAttribution: 'async-context' | 'fair-share';
  readonly exactMemory: boolean;
  readonly childProcesses: boolean;
  readonly gpuDevices: readonly number[] | 'all';
  readonly maxSpanOpenMs: number;
  readonly meterProvider: MeterProvider | undefined;
  readonly maxSpanNames: number;
  readonly spanHistograms: readonly SpanHistogramKind[];
  /** The profiler's settings; undefined while it is off. */
  readonly profile: ProfileSettings | undefined;
}

const OPTION_KEYS = [
  'spanNames',
  'spanKinds',
  'spanFilter',
  'attributes',
  'attributeGroups',
  'cpuAttribution',
  'exactMemory',
  'childProcesses',
  'gpu',
  'gpuDevices',
  'maxSpanOpenSeconds',
  'meterProvider',
  'maxSpanNames',
  'spanHistograms',
  'profiler',
  'profile',
] as const;

const WHAT = 'ResourceSpanProcessor options';
const SPAN_KINDS = new Set<unknown>(Object.values(SpanKind).filter((value) => typeof value === 'number'));

function arrayOption<T>(
  value: unknown,
  name: string,
  check: (item: unknown) => item is T,
  expected: string,
): T[] {
  if (!Array.isArray(value))
    throw new TypeError(`${WHAT}.${name} must be an array of ${expected}, got ${describe(value)}`);
  return value.map((item, index) => {
    if (!check(item))
      throw new TypeError(`${WHAT}.${name}[${index}] must be ${expected}, got ${describe(item)}`);
    return item;
  });
}

function buildSelector(options: ResourceSpanProcessorOptions): ((span: SpanSelector) => boolean) | undefined {
  const tests: Array<(span: SpanSelector) => boolean> = [];
  if (options.spanNames !== undefined) {
    const names = arrayOption(
      options.spanNames,
      'spanNames',
      (item): item is string | RegExp => typeof item === 'string' || item instanceof RegExp,
      'a string or a RegExp',
    );
    const exact = new Set(names.filter((name): name is string => typeof name === 'string'));
    const patterns = names.filter((name): name is RegExp => name instanceof RegExp);
    tests.push((span) => exact.has(span.name) || patterns.some((pattern) => pattern.test(span.name)));
  }
  if (options.spanKinds !== undefined) {
    const entries = arrayOption(
      options.spanKinds,
      'spanKinds',
      (item): item is SpanKind | SpanRole =>
        SPAN_KINDS.has(item) || (SPAN_ROLES as readonly unknown[]).includes(item),
      `a SpanKind or one of ${SPAN_ROLES.map((role) => `"${role}"`).join(', ')}`,
    );
    const kinds = new Set(entries.filter((entry): entry is SpanKind => typeof entry === 'number'));
    // Called for every span (measured or not): plain flags, no closure per role.
    const localRoot = entries.includes('local_root');
    const manual = entries.includes('manual');
    tests.push(
      (span) =>
        kinds.has(span.kind) ||
        (localRoot && hasRole(span, 'local_root')) ||
        (manual && hasRole(span, 'manual')),
    );
  }
  if (options.spanFilter !== undefined) {
    if (typeof options.spanFilter !== 'function') {
      throw new TypeError(`${WHAT}.spanFilter must be a function, got ${describe(options.spanFilter)}`);
    }
    tests.push(options.spanFilter);
  }
  if (tests.length <= 1) return tests[0];
  return (span) => tests.every((test) => test(span));
}

function attributeSet(value: unknown): ReadonlySet<string> {
  const set = orDefault(value, 'default');
  if (set === 'default' || set === 'full' || Array.isArray(set)) {
    const chosen = spanAttributeKeys(set as SpanAttributeSet);
    if ('keys' in chosen) return chosen.keys;
    throw new TypeError(
      `${WHAT}.attributes must be ${SPAN_ATTRIBUTE_SET_ACCEPTS}; got ${describe(chosen.unknown)}`,
    );
  }
  throw new TypeError(`${WHAT}.attributes must be ${SPAN_ATTRIBUTE_SET_ACCEPTS}; got ${describe(set)}`);
}

export function resolveOptions(options: ResourceSpanProcessorOptions | undefined): ResolvedOptions {
  assertPlainOptions(options, WHAT, OPTION_KEYS);
  const given = options ?? {};
  const groups = new Set(
    given.attributeGroups === undefined
      ? ATTRIBUTE_GROUPS
      : arrayOption(
          given.attributeGroups,
          'attributeGroups',
          (item): item is AttributeGroup => (ATTRIBUTE_GROUPS as readonly unknown[]).includes(item),
          `one of ${ATTRIBUTE_GROUPS.map((group) => `"${group}"`).join(', ')}`,
        ),
  );
  const attributes = attributeSet(given.attributes);
  const cpuAttribution = orDefault(given.cpuAttribution, 'async-context');
  if (!(CPU_ATTRIBUTIONS as readonly unknown[]).includes(cpuAttribution)) {
    throw new TypeError(
      `${WHAT}.cpuAttribution must be one of ${CPU_ATTRIBUTIONS.map((mode) => `"${mode}"`).join(', ')}, got ${describe(cpuAttribution)}`,
    );
  }
  if (given.gpuDevices !== undefined && given.gpuDevices !== 'all' && !Array.isArray(given.gpuDevices)) {
    throw new TypeError(
      `${WHAT}.gpuDevices must be 'all' or an array of non-negative integers (CUDA indices), got ${describe(given.gpuDevices)}`,
    );
  }
  const gpuDevices =
    given.gpuDevices === undefined || given.gpuDevices === 'all'
      ? (given.gpuDevices ?? [0])
      : arrayOption(
          given.gpuDevices,
          'gpuDevices',
          (item): item is number => typeof item === 'number' && Number.isInteger(item) && item >= 0,
          'a non-negative integer',
        );
  if (gpuDevices.length === 0)
    throw new TypeError(`${WHAT}.gpuDevices must name at least one device (or set gpu: false)`);
  if (!booleanOption(given.gpu, `${WHAT}.gpu`, true)) groups.delete('gpu');
  const maxSpanOpenSeconds = orDefault(given.maxSpanOpenSeconds, 3600);
  if (typeof maxSpanOpenSeconds !== 'number' || Number.isNaN(maxSpanOpenSeconds) || maxSpanOpenSeconds <= 0) {
    throw new TypeError(
      `${WHAT}.maxSpanOpenSeconds must be a number of seconds > 0 (or Infinity), got ${describe(maxSpanOpenSeconds)}`,
    );
  }
  if (given.meterProvider !== undefined && typeof given.meterProvider?.getMeter !== 'function') {
    throw new TypeError(
      `${WHAT}.meterProvider must be a MeterProvider, got ${describe(given.meterProvider)}`,
    );
  }
  const maxSpanNames = orDefault(given.maxSpanNames, 100);
  if (
    typeof maxSpanNames !== 'number' ||
    !Number.isInteger(maxSpanNames) ||
    maxSpanNames < 1 ||
    maxSpanNames > 10_000
  ) {
    throw new TypeError(
      `${WHAT}.maxSpanNames must be an integer from 1 to 10000, got ${describe(maxSpanNames)}`,
    );
  }
  return {
    selects: buildSelector(given),
    groups,
    attributes: new Set([...attributes].filter((key) => groups.has(GROUP_OF_KEY[key] ?? 'gpu'))),
    cpuAttribution: cpuAttribution === 'fair-share' ? 'fair-share' : 'async-context',
    exactMemory: booleanOption(given.exactMemory, `${WHAT}.exactMemory`, false),
    childProcesses: booleanOption(given.childProcesses, `${WHAT}.childProcesses`, false),
    gpuDevices: gpuDevices === 'all' ? 'all' : [...new Set(gpuDevices)],
    maxSpanOpenMs: maxSpanOpenSeconds * 1000,
    meterProvider: given.meterProvider,
    maxSpanNames,
    profile: resolveProfileSettings(given.profiler, given.profile),
    spanHistograms:
      given.spanHistograms === undefined
        ? DEFAULT_SPAN_HISTOGRAMS
        : [
            ...new Set(
              arrayOption(
                given.spanHistograms,
                'spanHistograms',
                (item): item is SpanHistogramKind => SPAN_HISTOGRAM_KINDS.includes(item as SpanHistogramKind),
                `one of ${SPAN_HISTOGRAM_KINDS.map((kind) => `'${kind}'`).join(', ')}`,
              ),
            ),
          ],
  };
}
