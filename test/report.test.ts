import assert from 'node:assert/strict';
import type { RunFigures } from '../src/report/run-figures.js';
import { renderReport } from '../src/report/write-report.js';

const MiB = 1024 * 1024;

/** The data a report page draws from, as the page reads it. */
function payloadOf(html: string): Record<string, unknown> {
  const json = /<script id="report-data" type="application\/json">(.*?)<\/script>/s.exec(html)?.[1];
  assert.ok(json, 'the report carries its data');
  return JSON.parse(json) as Record<string, unknown>;
}

describe('the run report page', () => {
  it('marks the peak of each curve, the GPU one included, with its value', () => {
    const figures: RunFigures = {
      command: 'train',
      pid: 1234,
      exitCode: 0,
      signal: undefined,
      wallSeconds: 0.3,
      cpuUserSeconds: 0.2,
      cpuSystemSeconds: 0,
      peakTreeRssBytes: 200 * MiB,
      peakTreeRssAtSeconds: 0.2,
      largestProcessPeakBytes: 200 * MiB,
      processesSeen: 1,
      gpus: [],
    };
    const html = renderReport({
      title: 'train',
      figures,
      samples: [
        { atMs: 100, cpuSeconds: 0.05, rssBytes: 100 * MiB, processCount: 1 },
        { atMs: 200, cpuSeconds: 0.15, rssBytes: 200 * MiB, processCount: 1 },
        { atMs: 300, cpuSeconds: 0.2, rssBytes: 150 * MiB, processCount: 1 },
      ],
      gpus: [{ label: 'GPU 0 (tree)', values: [MiB * 1024, MiB * 3072, Number.NaN] }],
      spans: [],
    });
    const payload = payloadOf(html);
    assert.deepEqual(payload.cpuPeak, { seconds: 0.2, label: 'peak 100 %' });
    assert.deepEqual(payload.rssPeak, { seconds: 0.2, label: 'peak 200.0 MiB' });
    assert.deepEqual(payload.gpuPeak, { seconds: 0.2, label: 'peak 3072.0 MiB' });
  });
});
