import type { Profiler } from 'node:inspector';
import type { Profile } from 'pprof-format';
import { type ProfiledSpan, spanLabels } from './span-labels.js';

type PprofFormat = typeof import('pprof-format');

/** V8's name for samples taken while the thread waited: wall time, but no CPU. */
const IDLE = '(idle)';

/**
 * A V8 CPU profile as pprof: one location per call frame (function, script, line), samples aggregated by stack
 * and span, values `samples/count`, `wall/nanoseconds` and `cpu/nanoseconds` (the sampling interval each; idle
 * samples count no CPU), the period set so that tools show time.
 */
export function v8ProfileToPprof(
  format: PprofFormat,
  cpuProfile: Profiler.Profile | undefined,
  spanAt: (atMicros: number) => ProfiledSpan | undefined,
  intervalMicros: number,
  startEpochMs: number,
): Profile {
  const strings = new format.StringTable();
  const nanos = strings.dedup('nanoseconds');
  const wall = new format.ValueType({ type: strings.dedup('wall'), unit: nanos });
  const sampleTypes = [
    new format.ValueType({ type: strings.dedup('samples'), unit: strings.dedup('count') }),
    wall,
    new format.ValueType({ type: strings.dedup('cpu'), unit: nanos }),
  ];
  const functions: InstanceType<PprofFormat['Function']>[] = [];
  const locations: InstanceType<PprofFormat['Location']>[] = [];
  const samples: InstanceType<PprofFormat['Sample']>[] = [];
  const periodNanos = intervalMicros * 1000;
  const durationNanos =
    cpuProfile === undefined ? 0 : Math.max(0, cpuProfile.endTime - cpuProfile.startTime) * 1000;
  if (cpuProfile !== undefined) {
    const byId = new Map(cpuProfile.nodes.map((node) => [node.id, node]));
    const parentOf = new Map<number, number>();
    for (const node of cpuProfile.nodes)
      for (const child of node.children ?? []) parentOf.set(child, node.id);
    const locationOfFrame = new Map<string, number>();
    const locationOfNode = (node: Profiler.ProfileNode): number => {
      const frame = node.callFrame;
      const key = `${frame.functionName}\u0000${frame.url}\u0000${frame.lineNumber}\u0000${frame.columnNumber}`;
      let id = locationOfFrame.get(key);
      if (id === undefined) {
        id = locations.length + 1;
        const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
        functions.push(
          new format.Function({
            id,
            name: strings.dedup(name),
            systemName: strings.dedup(name),
            filename: strings.dedup(frame.url),
            startLine: frame.lineNumber + 1,
          }),
        );
        locations.push(
          new format.Location({
            id,
            line: [new format.Line({ functionId: id, line: frame.lineNumber + 1 })],
          }),
        );
        locationOfFrame.set(key, id);
      }
      return id;
    };
    const stackOf = new Map<number, number[]>();
    const stack = (nodeId: number): number[] => {
      let ids = stackOf.get(nodeId);
      if (ids === undefined) {
        ids = [];
        for (let id: number | undefined = nodeId; id !== undefined; id = parentOf.get(id)) {
          const node = byId.get(id);
          // The root is V8's "(root)": no frame of the program.
          if (node !== undefined && parentOf.has(id)) ids.push(locationOfNode(node));
        }
        stackOf.set(nodeId, ids);
      }
      return ids;
    };
    // One pprof sample per (stack, span): the counts add up.
    const aggregated = new Map<number, Map<ProfiledSpan | undefined, number>>();
    let atMicros = cpuProfile.startTime;
    const nodeIds = cpuProfile.samples ?? [];
    const deltas = cpuProfile.timeDeltas ?? [];
    for (let i = 0; i < nodeIds.length; i++) {
      atMicros += deltas[i] ?? 0;
      const nodeId = nodeIds[i] as number;
      const span = spanAt(atMicros);
      let bySpan = aggregated.get(nodeId);
      if (bySpan === undefined) {
        bySpan = new Map();
        aggregated.set(nodeId, bySpan);
      }
      bySpan.set(span, (bySpan.get(span) ?? 0) + 1);
    }
    const labelKeys = new Map<string, number>();
    const keyOf = (key: string): number => {
      let id = labelKeys.get(key);
      if (id === undefined) {
        id = strings.dedup(key);
        labelKeys.set(key, id);
      }
      return id;
    };
    for (const [nodeId, bySpan] of aggregated) {
      const idle = byId.get(nodeId)?.callFrame.functionName === IDLE;
      for (const [span, count] of bySpan) {
        samples.push(
          new format.Sample({
            locationId: stack(nodeId),
            value: [count, count * periodNanos, idle ? 0 : count * periodNanos],
            label:
              span === undefined
                ? []
                : Object.entries(spanLabels(span)).map(
                    ([key, value]) => new format.Label({ key: keyOf(key), str: strings.dedup(value) }),
                  ),
          }),
        );
      }
    }
  }
  return new format.Profile({
    sampleType: sampleTypes,
    sample: samples,
    location: locations,
    function: functions,
    stringTable: strings,
    timeNanos: BigInt(Math.round(startEpochMs)) * 1_000_000n,
    durationNanos,
    periodType: wall,
    period: periodNanos,
    defaultSampleType: strings.dedup('cpu'),
  });
}
