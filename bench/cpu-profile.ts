import { readFileSync } from 'node:fs';
import { sep } from 'node:path';

/** The parts of a V8 .cpuprofile (node --cpu-prof) read here. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string } }>;
  samples: number[];
  timeDeltas: number[];
}

/** Where a sampled function lives: our package (by file), another package, the app, Node's own, V8's. */
function placeOf(url: string, functionName: string, repoRoot: string): { group: string; detail: string } {
  if (url === '') {
    if (functionName === '(garbage collector)') return { group: 'GC', detail: functionName };
    if (functionName === '(program)' || functionName === '(idle)' || functionName === '(root)')
      return { group: functionName, detail: functionName };
    return { group: 'V8 / native builtins', detail: functionName || '(anonymous)' };
  }
  if (url.startsWith('node:')) return { group: 'node internals', detail: url };
  const path = url.replace(/^file:\/\//, '');
  const packages = path.lastIndexOf(`${sep}node_modules${sep}`);
  if (packages >= 0) {
    const rest = path.slice(packages + '/node_modules/'.length).split(sep);
    const name = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? '?');
    if (name.startsWith('@opentelemetry/')) return { group: '@opentelemetry/*', detail: name };
    return { group: 'other packages (express, its deps…)', detail: name };
  }
  if (path.startsWith(`${repoRoot}${sep}dist${sep}`))
    return { group: 'otel-resource-tracker (ours)', detail: path.slice(repoRoot.length + 1) };
  if (path.startsWith(`${repoRoot}${sep}test${sep}`)) return { group: 'the app', detail: path };
  return { group: 'other files', detail: path };
}

/**
 * Prints the self time of a CPU profile summed per group (ours, @opentelemetry/*, other packages, Node, V8, GC)
 * and, inside each, per package or file: shares of the busy samples (idle left out).
 */
export function printProfileSummary(file: string, repoRoot: string): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const groups = new Map<string, number>();
  const details = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, index) => {
    const node = byId.get(id);
    const micros = profile.timeDeltas[index] ?? 0;
    if (node === undefined) return;
    const place = placeOf(node.callFrame.url, node.callFrame.functionName, repoRoot);
    if (place.group === '(idle)') return;
    busy += micros;
    groups.set(place.group, (groups.get(place.group) ?? 0) + micros);
    const key = `${place.group}\u0000${place.detail}`;
    details.set(key, (details.get(key) ?? 0) + micros);
  });
  const percent = (micros: number) => `${((micros / busy) * 100).toFixed(1).padStart(5)} %`;
  for (const [group, micros] of [...groups].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${percent(micros)}  ${group}`);
    const inside = [...details]
      .filter(([key]) => key.startsWith(`${group}\u0000`))
      .sort((a, b) => b[1] - a[1]);
    if (inside.length < 2 && group !== 'otel-resource-tracker (ours)') continue;
    for (const [key, detailMicros] of inside.slice(0, group === 'node internals' ? 4 : 6)) {
      console.log(`      ${percent(detailMicros)}  ${key.split('\u0000')[1]}`);
    }
  }
}
