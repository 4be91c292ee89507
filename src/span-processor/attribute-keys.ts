/** Span attribute keys: public API, documented with units in the README. */
export const ATTR_CPU_TIME = 'process.cpu.time';
export const ATTR_CPU_USER_TIME = 'process.cpu.user_time';
export const ATTR_CPU_SYSTEM_TIME = 'process.cpu.system_time';
export const ATTR_CPU_ATTRIBUTED_TIME = 'process.cpu.attributed_time';
export const ATTR_CPU_UTILIZATION = 'process.cpu.utilization';
/** Only inside worker threads: whether the CPU figures are the thread's or the whole process's. */
export const ATTR_CPU_SCOPE = 'process.cpu.scope';
export const ATTR_CONCURRENT_SPANS = 'process.concurrent_spans';
export const ATTR_WALL_TIME = 'process.wall_time';
export const ATTR_MEMORY_START = 'process.memory.start';
export const ATTR_MEMORY_END = 'process.memory.end';
export const ATTR_MEMORY_DELTA = 'process.memory.delta';
export const ATTR_MEMORY_PEAK = 'process.memory.peak';
export const ATTR_CHILDREN_CPU_TIME = 'process.children.cpu.time';
export const ATTR_GPU_MEMORY_START = 'gpu.memory.start';
export const ATTR_GPU_MEMORY_END = 'gpu.memory.end';
export const ATTR_GPU_MEMORY_DELTA = 'gpu.memory.delta';
export const ATTR_GPU_MEMORY_PEAK = 'gpu.memory.peak';
export const ATTR_GPU_MEMORY_LIMIT = 'gpu.memory.limit';
export const ATTR_GPU_PROCESS_MEMORY = 'gpu.process.memory';
export const ATTR_GPU_ID = 'gpu.id';
export const ATTR_GPU_IDS = 'gpu.ids';
export const ATTR_GPU_NAME = 'gpu.name';
