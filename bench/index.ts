import { benchSnapshot } from './snapshot.bench.js';

console.log(`otel-resource-tracker benchmarks: node ${process.version}, ${process.platform}/${process.arch}`);
benchSnapshot();
