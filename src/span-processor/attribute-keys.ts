/**
 * Span attribute keys: public API, and the one place their names are written (tests, docs and the dashboard are
 * checked against these). A key in a namespace the semantic conventions own means exactly what semconv means by
 * it (`hw.id`, `hw.model`); every figure semconv does not define lives in our own `resource_tracker.` namespace
 * (semconv's docs/general/naming.md: custom names must not squat its namespaces). Table: docs/conventions.md.
 */

/** Our namespace: every key below that semconv does not define starts with it. */
export const NAMESPACE = 'resource_tracker';

/** s: process CPU (user + system) between span start and end: everything the process did meanwhile. */
export const ATTR_CPU_TIME = 'resource_tracker.cpu.time';
/** s: the user part of ATTR_CPU_TIME. */
export const ATTR_CPU_USER_TIME = 'resource_tracker.cpu.user_time';
/** s: the system part of ATTR_CPU_TIME. */
export const ATTR_CPU_SYSTEM_TIME = 'resource_tracker.cpu.system_time';
/** s: the CPU charged to this span and its descendants when several spans were open at once. */
export const ATTR_CPU_ATTRIBUTED_TIME = 'resource_tracker.cpu.attributed_time';
/**
 * 1: CPU seconds per wall second, the average number of cores busy (2 = two full cores). Not semconv's
 * `process.cpu.utilization`, which divides by the number of CPUs as well.
 */
export const ATTR_CPU_AVERAGE_CORES = 'resource_tracker.cpu.average_cores';
/** Only inside worker threads: whether the CPU figures are the thread's or the whole process's. */
export const ATTR_CPU_SCOPE = 'resource_tracker.cpu.scope';
/** {span}: the most other trees of measured spans open at once during this span (0 = alone). */
export const ATTR_CONCURRENT_SPANS = 'resource_tracker.concurrent_spans';
/** s: wall-clock time, monotonic clock. */
export const ATTR_WALL_TIME = 'resource_tracker.wall_time';
/** By: resident memory (RSS) of the process at span start. */
export const ATTR_MEMORY_START = 'resource_tracker.memory.start';
/** By: RSS at span end. */
export const ATTR_MEMORY_END = 'resource_tracker.memory.end';
/** By: end − start. */
export const ATTR_MEMORY_DELTA = 'resource_tracker.memory.delta';
/** By: the highest RSS inside the span. */
export const ATTR_MEMORY_PEAK = 'resource_tracker.memory.peak';
/** s: CPU of child processes reaped during the span (opt-in attribute group `children`). */
export const ATTR_CHILDREN_CPU_TIME = 'resource_tracker.children.cpu.time';
/** By: device memory used (all processes) on the tracked GPU(s) at span start. */
export const ATTR_GPU_MEMORY_START = 'resource_tracker.gpu.memory.start';
/** By: at span end. */
export const ATTR_GPU_MEMORY_END = 'resource_tracker.gpu.memory.end';
/** By: end − start. */
export const ATTR_GPU_MEMORY_DELTA = 'resource_tracker.gpu.memory.delta';
/** By: the highest device memory used inside the span. */
export const ATTR_GPU_MEMORY_PEAK = 'resource_tracker.gpu.memory.peak';
/** By: device memory size. */
export const ATTR_GPU_MEMORY_LIMIT = 'resource_tracker.gpu.memory.limit';
/** By: GPU memory held by this process and its descendants at span end. */
export const ATTR_GPU_PROCESS_MEMORY = 'resource_tracker.gpu.process.memory';
/**
 * s: GPU time this process and its descendants used on the tracked GPU(s) during the span (NVML: SM % × the time
 * each sample covers; DRM: the busiest engine's time per client), summed over the devices. Absent where the driver
 * gives no per-process utilization; 0 when it does and the tree did nothing.
 */
export const ATTR_GPU_PROCESS_BUSY_TIME = 'resource_tracker.gpu.process.busy_time';
/** 1: the tracked GPU(s)' mean busy fraction (all processes) over the readings inside the span, 0–1. */
export const ATTR_GPU_UTILIZATION = 'resource_tracker.gpu.utilization';
/** The tracked GPU's UUID (semconv hardware `hw.id`); with several tracked GPUs, ATTR_GPU_IDS instead. */
export const ATTR_HW_ID = 'hw.id';
/** string[]: the UUIDs of several tracked GPUs. */
export const ATTR_GPU_IDS = 'resource_tracker.gpu.ids';
/** The tracked GPU's model name (semconv hardware `hw.model`), comma-joined when several models. */
export const ATTR_HW_MODEL = 'hw.model';

/* Why a span was slow: what happened in the process (or its container) while the span was open, not a share of it,
 * like wall_time. Each is absent where its source does not exist or cannot be read, 0 where nothing happened. */

/** s: V8 garbage-collection pauses overlapping the span (a pause straddling an edge counted in proportion). */
export const ATTR_GC_PAUSE_TIME = 'resource_tracker.gc.pause_time';
/** {collection}: garbage collections overlapping the span. */
export const ATTR_GC_COUNT = 'resource_tracker.gc.count';
/** 1: the event loop's utilization over the span (performance.eventLoopUtilization), 0–1. */
export const ATTR_EVENT_LOOP_UTILIZATION = 'resource_tracker.event_loop.utilization';
/** s: time the process's CPU cgroup was throttled by its quota during the span. */
export const ATTR_CPU_THROTTLED_TIME = 'resource_tracker.cpu.throttled_time';
/** s: time the span's thread was runnable but waiting for a CPU (run-queue delay, /proc/thread-self/schedstat). */
export const ATTR_CPU_WAIT_TIME = 'resource_tracker.cpu.wait_time';
/** {cpu}: the CPU cgroup's quota in cores; absent when unlimited. */
export const ATTR_CPU_LIMIT = 'resource_tracker.cpu.limit';
/** By: the memory cgroup's limit; absent when unlimited. */
export const ATTR_MEMORY_LIMIT = 'resource_tracker.memory.limit';

/* The span of `otel-resource-tracker run -- <command>`: the figures above where they mean the same (the CPU, wall
 * time and GPU keys, for the whole process tree), the process tree's own below, and semconv's process keys. */

/** By: the highest sum of RSS over the process tree at one moment (sampled). */
export const ATTR_TREE_MEMORY_PEAK = 'resource_tracker.process_tree.memory.peak';
/** By: the largest single process's own peak RSS (its maxRSS, as GNU time reports it). */
export const ATTR_TREE_LARGEST_PROCESS_PEAK = 'resource_tracker.process_tree.memory.largest_process_peak';
/** {process}: processes seen in the tree, the command included. */
export const ATTR_TREE_PROCESS_COUNT = 'resource_tracker.process_tree.process_count';
/** By: the highest GPU memory the tree held at one moment (summed over devices). */
export const ATTR_GPU_PROCESS_MEMORY_PEAK = 'resource_tracker.gpu.process.memory.peak';
/** The signal that ended the command (SIGKILL, …), when one did. */
export const ATTR_EXIT_SIGNAL = 'resource_tracker.exit.signal';
/** The command as given (semconv `process.command`). */
export const ATTR_PROCESS_COMMAND = 'process.command';
/** string[]: the command and its arguments (semconv `process.command_args`); only with --record-args. */
export const ATTR_PROCESS_COMMAND_ARGS = 'process.command_args';
/** The command's PID (semconv `process.pid`). */
export const ATTR_PROCESS_PID = 'process.pid';
/** The command's exit code (semconv `process.exit.code`). */
export const ATTR_PROCESS_EXIT_CODE = 'process.exit.code';
