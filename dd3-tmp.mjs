import * as pprof from '@datadog/pprof';
import { Session } from 'node:inspector';
pprof.time.start({ intervalMicros: 1000, durationMillis: 10000, withContexts: true, collectCpuTime: true });
let t = Date.now(); while (Date.now() - t < 50);
pprof.time.stop(false);
const s = new Session(); s.connect();
const post = (m, p) => { let r; s.post(m, p ?? {}, (e, x) => { if (e) throw e; r = x; }); return r; };
post('Profiler.enable'); post('Profiler.setSamplingInterval', { interval: 1000 }); post('Profiler.start');
function burnOutside(ms) { const end = performance.now() + ms; let z = 2; while (performance.now() < end) for (let i = 0; i < 20000; i++) z = (z + Math.log1p(i)) % 1e9; return z; }
burnOutside(60);
const { profile } = post('Profiler.stop');
console.log(profile.samples.length, profile.nodes.map((n) => n.callFrame.functionName + ':' + n.hitCount).join(' '));
