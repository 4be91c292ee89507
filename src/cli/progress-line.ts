import type { TreeSample } from '../sampler/process-tree-sampler.js';

const MiB = 1024 * 1024;

/**
 * One status line on a terminal, rewritten in place at each sample: elapsed, CPU % over the last second, the tree's
 * RSS, GPU memory. Only ever given a TTY (the caller checks), so nothing of it reaches a log file or a pipe.
 */
export class ProgressLine {
  private shown = false;
  /** The samples of about the last second (the CPU % is over them), oldest first. */
  private readonly recent: TreeSample[] = [];

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(sample: TreeSample, gpu: ReadonlyMap<number, number>): void {
    this.recent.push(sample);
    while (this.recent.length > 2 && sample.atMs - (this.recent[1] as TreeSample).atMs >= 1000)
      this.recent.shift();
    const earlier = this.recent[0];
    const span = earlier === undefined ? 0 : sample.atMs - earlier.atMs;
    const cpuPercent =
      span > 0 && earlier !== undefined
        ? ((sample.cpuSeconds - earlier.cpuSeconds) / (span / 1000)) * 100
        : 0;
    let text = `  ${(sample.atMs / 1000).toFixed(1)} s  CPU ${cpuPercent.toFixed(0)} %  RSS ${(sample.rssBytes / MiB).toFixed(0)} MiB  ${sample.processCount} proc`;
    for (const [device, bytes] of gpu) text += `  GPU${device} ${(bytes / MiB).toFixed(0)} MiB`;
    this.stream.write(`\r${text.slice(0, (this.stream.columns ?? 80) - 1)}\x1b[K`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
  }
}
