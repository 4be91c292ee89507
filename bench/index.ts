import { benchAttribution } from './attribution.bench.js';
import { benchGpu } from './gpu.bench.js';
import { benchMetrics } from './metrics.bench.js';
import { benchSnapshot } from './snapshot.bench.js';
import { benchSpanProcessor } from './span-processor.bench.js';

const only = process.argv[2];
console.log(`otel-resource-tracker benchmarks: node ${process.version}, ${process.platform}/${process.arch}`);
if (only === undefined || only === 'snapshot') benchSnapshot();
if (only === undefined || only === 'span') benchSpanProcessor();
if (only === undefined || only === 'attribution') await benchAttribution();
if (only === undefined || only === 'gpu') await benchGpu();
if (only === undefined || only === 'metrics') await benchMetrics();
