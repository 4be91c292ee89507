import type { DrmClient } from './drm-clients.js';

interface ClientCounters {
  readonly engineNs: ReadonlyMap<string, number>;
  readonly cycles: DrmClient['cycles'];
}

/**
 * GPU time per DRM client between two readings, from the counters its fdinfo keeps since it opened: the busiest
 * engine's `drm-engine-<engine>` delta (ns), or for xe the busiest class's `drm-cycles-<class>` delta over its
 * `drm-total-cycles-<class>` delta times the wall time between the readings.
 *
 * The busiest engine, not the sum: engines run at the same time (a copy on the DMA engine while the graphics or
 * compute engine works), so a sum could pass one second per second and would count one stretch of work twice;
 * the busiest engine is the time the GPU had this client's work on it at least, what nvtop and intel_gpu_top call
 * the client's busy time.
 */
export class DrmEngineTime {
  private previous = new Map<string, ClientCounters>();
  private previousAtMs: number | undefined;

  /**
   * Each client's GPU seconds since the previous reading (undefined: its fdinfo has no engine figures), and the
   * window they fall in. A client not seen before counts from zero (its counters started when it opened, after
   * the previous reading) — except at the first reading, which only sets the baseline.
   */
  update(
    clients: readonly DrmClient[],
    nowMs: number,
  ): { busy: Map<string, number | undefined>; fromMs: number; toMs: number } {
    const busy = new Map<string, number | undefined>();
    const current = new Map<string, ClientCounters>();
    const first = this.previousAtMs === undefined;
    const fromMs = this.previousAtMs ?? nowMs;
    const wallSeconds = Math.max(0, (nowMs - fromMs) / 1000);
    for (const client of clients) {
      if (client.engineNs.size === 0 && client.cycles.size === 0) {
        busy.set(client.key, undefined);
        continue;
      }
      current.set(client.key, client);
      const before = this.previous.get(client.key);
      if (before === undefined && first) {
        busy.set(client.key, 0);
        continue;
      }
      busy.set(
        client.key,
        Math.max(engineSeconds(client, before), cycleSeconds(client, before, wallSeconds)),
      );
    }
    this.previous = current;
    this.previousAtMs = nowMs;
    return { busy, fromMs, toMs: nowMs };
  }
}

/** The busiest engine's time since `before` (or since the client opened). A counter that went back: 0. */
function engineSeconds(client: ClientCounters, before: ClientCounters | undefined): number {
  let busiest = 0;
  for (const [engine, ns] of client.engineNs) {
    const delta = ns - (before?.engineNs.get(engine) ?? 0);
    if (delta > busiest) busiest = delta;
  }
  return busiest / 1e9;
}

/** xe: the busiest class's busy fraction between two readings times the wall time between them. */
function cycleSeconds(
  client: ClientCounters,
  before: ClientCounters | undefined,
  wallSeconds: number,
): number {
  if (before === undefined) return 0;
  let busiest = 0;
  for (const [engineClass, now] of client.cycles) {
    const then = before.cycles.get(engineClass);
    if (then === undefined) continue;
    const total = now.total - then.total;
    const used = now.busy - then.busy;
    if (total > 0 && used > 0) busiest = Math.max(busiest, Math.min(1, used / total));
  }
  return busiest * wallSeconds;
}
