import * as keys from './attribute-keys.js';

/**
 * Which keys a span carries. Every key is a price: CPU to encode and export it on every measured span, and bytes in
 * the user's tracing bill. The default set is what a person reads in a trace view — the CPU the process used, the
 * span's attributed share of it, the peak memory; on a GPU host the GPU's peak and this process's GPU memory and
 * which GPU, and the GPU time this process used — and nothing the span already says (its duration) or that only
 * details another key (user / system
 * split, start / end / delta, average cores, concurrent spans). `full` is every key; a list picks keys.
 */
/** The GPU keys (gpu-figures.ts sets them), in the order they are set. */
export const GPU_ATTRIBUTES: readonly string[] = [
  keys.ATTR_GPU_MEMORY_START,
  keys.ATTR_GPU_MEMORY_END,
  keys.ATTR_GPU_MEMORY_DELTA,
  keys.ATTR_GPU_MEMORY_PEAK,
  keys.ATTR_GPU_MEMORY_LIMIT,
  keys.ATTR_GPU_PROCESS_MEMORY,
  keys.ATTR_GPU_PROCESS_BUSY_TIME,
  keys.ATTR_GPU_UTILIZATION,
  keys.ATTR_HW_ID,
  keys.ATTR_GPU_IDS,
  keys.ATTR_HW_MODEL,
];

export type SpanAttributeSet = 'default' | 'full' | readonly string[];

/**
 * The keys a measured span can carry, in the order they are set. `resource_tracker.children.cpu.time` is not among
 * them: the `childProcesses` option is its own switch. The run command's span has keys of its own (attribute-keys.ts).
 */
export const SELECTABLE_SPAN_ATTRIBUTES: readonly string[] = [
  keys.ATTR_CPU_TIME,
  keys.ATTR_CPU_USER_TIME,
  keys.ATTR_CPU_SYSTEM_TIME,
  keys.ATTR_CPU_AVERAGE_CORES,
  keys.ATTR_WALL_TIME,
  keys.ATTR_CPU_SCOPE,
  keys.ATTR_CPU_ATTRIBUTED_TIME,
  keys.ATTR_CONCURRENT_SPANS,
  keys.ATTR_MEMORY_START,
  keys.ATTR_MEMORY_END,
  keys.ATTR_MEMORY_DELTA,
  keys.ATTR_MEMORY_PEAK,
  ...GPU_ATTRIBUTES,
  keys.ATTR_GC_PAUSE_TIME,
  keys.ATTR_GC_COUNT,
  keys.ATTR_EVENT_LOOP_UTILIZATION,
  keys.ATTR_CPU_THROTTLED_TIME,
  keys.ATTR_CPU_WAIT_TIME,
  keys.ATTR_CPU_LIMIT,
  keys.ATTR_MEMORY_LIMIT,
];

/**
 * The default set. `resource_tracker.cpu.scope` is set only inside worker threads, where it says whose CPU the
 * figures are (without it they cannot be read); the GPU keys only while a GPU is tracked; `hw.id` /
 * `resource_tracker.gpu.ids` say which GPU the figures are of.
 */
export const DEFAULT_SPAN_ATTRIBUTES: readonly string[] = [
  keys.ATTR_CPU_TIME,
  keys.ATTR_CPU_SCOPE,
  keys.ATTR_CPU_ATTRIBUTED_TIME,
  keys.ATTR_MEMORY_PEAK,
  keys.ATTR_GPU_MEMORY_PEAK,
  keys.ATTR_GPU_PROCESS_MEMORY,
  keys.ATTR_GPU_PROCESS_BUSY_TIME,
  keys.ATTR_HW_ID,
  keys.ATTR_GPU_IDS,
];

/** The keys of a set, or the first entry that is not a selectable key. */
export function spanAttributeKeys(
  set: SpanAttributeSet,
): { readonly keys: ReadonlySet<string> } | { readonly unknown: string } {
  if (set === 'default') return { keys: new Set(DEFAULT_SPAN_ATTRIBUTES) };
  if (set === 'full') return { keys: new Set(SELECTABLE_SPAN_ATTRIBUTES) };
  const unknown = set.find((key) => !SELECTABLE_SPAN_ATTRIBUTES.includes(key));
  if (unknown !== undefined) return { unknown };
  return { keys: new Set(set) };
}

/** What a set accepts, for messages. */
export const SPAN_ATTRIBUTE_SET_ACCEPTS = `"default", "full" or a list of keys among ${SELECTABLE_SPAN_ATTRIBUTES.join(', ')}`;
