import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isProfileFileName } from '../profiler/profile-files.js';

type PprofFormat = typeof import('pprof-format');

/** One frame of a span name's flame graph: its function, its time (ns, with its callees), its callees. */
export interface FlameNode {
  readonly name: string;
  value: number;
  readonly children: FlameNode[];
}

/** The flame graph of one span name: the CPU samples taken while spans of that name were innermost. */
export interface SpanFlame {
  readonly spanName: string;
  /** Sampled time, ns (`cpu` where the profile has it, else `wall`). */
  readonly totalNanos: number;
  /** The functions with the most self time, hottest first. */
  readonly hottest: ReadonlyArray<{ readonly name: string; readonly nanos: number }>;
  readonly root: FlameNode;
}

/** Flame graphs for this many span names at most (the ones with the most time), so that the page stays small. */
const MAX_SPAN_NAMES = 20;
/** Frames under this share of their span's time are left out of its graph. */
const MIN_SHARE = 0.005;
const MAX_DEPTH = 48;

function child(node: FlameNode, name: string): FlameNode {
  let found = node.children.find((candidate) => candidate.name === name);
  if (found === undefined) {
    found = { name, value: 0, children: [] };
    node.children.push(found);
  }
  return found;
}

function prune(node: FlameNode, minimum: number, depth: number): FlameNode {
  const children =
    depth >= MAX_DEPTH
      ? []
      : node.children
          .filter((candidate) => candidate.value >= minimum)
          .sort((a, b) => b.value - a.value)
          .map((candidate) => prune(candidate, minimum, depth + 1));
  return { name: node.name, value: node.value, children };
}

/**
 * The flame graphs, per span name, of the profile files this process wrote in `directory` since `sinceEpochMs` (decoded with
 * pprof-format, loaded only here, only when the profiler was on). Idle samples carry no CPU and fall away.
 */
export function spanFlames(directory: string, pid: number, sinceEpochMs: number): SpanFlame[] {
  const format = createRequire(import.meta.url)('pprof-format') as PprofFormat;
  const roots = new Map<string, FlameNode>();
  const selfTime = new Map<string, Map<string, number>>();
  for (const name of readdirSync(directory).sort()) {
    if (!isProfileFileName(name) || !name.startsWith(`cpu-${pid}-`)) continue;
    // An earlier process with the same pid (pid 1 in every container run) wrote before this one started.
    const stat = lstatSync(join(directory, name));
    if (!stat.isFile() || stat.mtimeMs < sinceEpochMs) continue;
    const profile = format.Profile.decode(gunzipSync(readFileSync(join(directory, name))));
    const text = (index: number | bigint) => profile.stringTable.strings[Number(index)] ?? '';
    const types = profile.sampleType.map((type) => text(type.type));
    const valueIndex = types.includes('cpu') ? types.indexOf('cpu') : types.indexOf('wall');
    if (valueIndex < 0) continue;
    const functionName = new Map(profile.function.map((fn) => [Number(fn.id), text(fn.name)]));
    const frameOf = new Map(
      profile.location.map((location) => [
        Number(location.id),
        functionName.get(Number(location.line[0]?.functionId ?? 0)) ?? '(unknown)',
      ]),
    );
    for (const sample of profile.sample) {
      const label = sample.label.find((candidate) => text(candidate.key) === 'span_name');
      const value = Number(sample.value[valueIndex] ?? 0);
      if (label === undefined || value <= 0) continue;
      const spanName = text(label.str);
      let node = roots.get(spanName) ?? { name: spanName, value: 0, children: [] };
      roots.set(spanName, node);
      node.value += value;
      const frames = sample.locationId.map((id) => frameOf.get(Number(id)) ?? '(unknown)');
      for (let i = frames.length - 1; i >= 0; i--) {
        node = child(node, frames[i] as string);
        node.value += value;
      }
      const leaf = frames[0] ?? '(unknown)';
      const selfs = selfTime.get(spanName) ?? new Map<string, number>();
      selfTime.set(spanName, selfs);
      selfs.set(leaf, (selfs.get(leaf) ?? 0) + value);
    }
  }
  return [...roots.values()]
    .sort((a, b) => b.value - a.value)
    .slice(0, MAX_SPAN_NAMES)
    .map((root) => ({
      spanName: root.name,
      totalNanos: root.value,
      hottest: [...(selfTime.get(root.name) ?? new Map<string, number>())]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([name, nanos]) => ({ name, nanos })),
      root: prune(root, root.value * MIN_SHARE, 0),
    }));
}
