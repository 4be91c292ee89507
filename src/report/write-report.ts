import { closeSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { TreeSample } from '../sampler/process-tree-sampler.js';
import { openOutputFile } from './output-file.js';
import type { RunFigures } from './run-figures.js';
import type { SpanFlame } from './span-flames.js';
import type { LoggedSpan } from './span-log.js';
import { formatSummary } from './summary.js';

/** GPU memory over the run, one value per tree sample (NaN where there was no reading). */
export interface GpuSeries {
  readonly label: string;
  readonly values: readonly number[];
}

export interface ReportInput {
  readonly title: string;
  readonly figures: RunFigures;
  readonly samples: readonly TreeSample[];
  readonly gpus: readonly GpuSeries[];
  readonly spans: readonly LoggedSpan[];
  /** Samples taken, when each of `samples` stands for several (a long run's bounded curve). */
  readonly samplesTaken?: number;
  /** What the page must say was left out (spans past the span log's bound, beyond the timeline's). */
  readonly notes?: readonly string[];
  /** With the profiler on: a flame graph per span name (the page leaves the section out without). */
  readonly flames?: readonly SpanFlame[];
}

/** More points than a screen has pixels only slow the page: longer runs keep each window's highest value. */
const MAX_POINTS = 4000;

/** uPlot (MIT, ~50 KB): a small, well-kept canvas chart library, inlined so that the page needs no network. */
function chartLibrary(): { script: string; style: string } {
  const require = createRequire(import.meta.url);
  return {
    script: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    style: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
}

interface Series {
  seconds: number[];
  cpuPercent: number[];
  rssMiB: number[];
  gpuMiB: number[][];
}

function series(input: ReportInput): Series {
  const { samples } = input;
  const stride = Math.max(1, Math.ceil(samples.length / MAX_POINTS));
  const out: Series = { seconds: [], cpuPercent: [], rssMiB: [], gpuMiB: input.gpus.map(() => []) };
  for (let start = 0; start < samples.length; start += stride) {
    const window = samples.slice(start, start + stride);
    const last = window[window.length - 1] as TreeSample;
    const before = samples[start - 1];
    const elapsed = before === undefined ? last.atMs : last.atMs - before.atMs;
    const cpu = before === undefined ? last.cpuSeconds : last.cpuSeconds - before.cpuSeconds;
    out.seconds.push(last.atMs / 1000);
    out.cpuPercent.push(elapsed > 0 ? (cpu / (elapsed / 1000)) * 100 : 0);
    out.rssMiB.push(Math.max(...window.map((sample) => sample.rssBytes)) / 1048576);
    input.gpus.forEach((gpu, index) => {
      const values = gpu.values.slice(start, start + stride).filter((value) => Number.isFinite(value));
      out.gpuMiB[index]?.push(values.length === 0 ? Number.NaN : Math.max(...values) / 1048576);
    });
  }
  return out;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028|\u2029/g, ' ');
}

const PAGE_SCRIPT = `
const data = JSON.parse(document.getElementById('report-data').textContent);
const width = () => Math.min(1100, document.body.clientWidth - 40);
const drawn = {};
function peakMarker(peakSeconds, label) {
  return { hooks: { draw: [(u) => {
    if (peakSeconds === null) return;
    const x = u.valToPos(peakSeconds, 'x', true);
    const ctx = u.ctx;
    ctx.save(); ctx.strokeStyle = '#d6336c'; ctx.setLineDash([4, 4]); ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
    ctx.fillStyle = '#d6336c'; ctx.font = (12 * devicePixelRatio) + 'px sans-serif';
    ctx.fillText(label, x + 4, u.bbox.top + 14 * devicePixelRatio); ctx.restore();
  }] } };
}
function chart(id, title, unit, columns, labels, peak) {
  const colors = ['#1c7ed6', '#e8590c', '#2f9e44', '#ae3ec9', '#f08c00'];
  const opts = {
    title, width: width(), height: 220,
    scales: { x: { time: false } },
    axes: [{ label: 'seconds' }, { label: unit }],
    series: [{ label: 's' }, ...labels.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 1.5, points: { show: false } }))],
    plugins: peak ? [peakMarker(peak.seconds, peak.label)] : [],
    hooks: id === 'cpu' ? { ready: [(u) => { drawSpans(u); finish(); }] } : {},
  };
  const plot = new uPlot(opts, [data.seconds, ...columns], document.getElementById(id));
  drawn[id] = { points: data.seconds.length, series: columns.length, plot };
}
chart('cpu', 'CPU of the process tree', '% of one core', [data.cpuPercent], ['CPU %'], data.cpuPeak);
chart('rss', 'Resident memory of the process tree', 'MiB', [data.rssMiB], ['tree RSS'], data.rssPeak);
if (data.gpuMiB.length > 0) chart('gpu', 'GPU memory held by the process tree', 'MiB', data.gpuMiB, data.gpuLabels, data.gpuPeak);
function drawSpans(plot) {
  const holder = document.getElementById('spans');
  if (data.spans.length === 0) {
    holder.innerHTML = '<p class="note">No spans from the command: a Node command started under the zero-code entry (node --import otel-resource-tracker/register …) sends its spans here.</p>';
    return;
  }
  const left = plot.over.getBoundingClientRect().left - holder.getBoundingClientRect().left;
  const rowHeight = 18;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('id', 'timeline');
  svg.setAttribute('width', String(left + plot.over.clientWidth + 10));
  svg.setAttribute('height', String(data.spans.length * rowHeight));
  data.spans.forEach((span, row) => {
    const x0 = left + plot.valToPos(Math.max(0, span.start), 'x');
    const x1 = left + plot.valToPos(span.end, 'x');
    const group = document.createElementNS(ns, 'g');
    const title = document.createElementNS(ns, 'title');
    title.textContent = span.name + ': ' + (span.end - span.start).toFixed(3) + ' s (pid ' + span.pid + ')';
    const rect = document.createElementNS(ns, 'rect');
    rect.setAttribute('x', String(x0)); rect.setAttribute('y', String(row * rowHeight));
    rect.setAttribute('width', String(Math.max(2, x1 - x0))); rect.setAttribute('height', String(rowHeight - 4));
    rect.setAttribute('class', 'd' + (span.depth % 4));
    const text = document.createElementNS(ns, 'text');
    text.setAttribute('x', String(x0 + 3)); text.setAttribute('y', String(row * rowHeight + 11));
    text.textContent = span.name;
    group.append(title, rect, text);
    svg.append(group);
  });
  holder.append(svg);
}
// Profiler (issue 27): one flame graph per span name, a small hand-drawn SVG (root at the top, callees below).
function drawFlames() {
  const holder = document.getElementById('flames');
  if (holder === null) return;
  const ns = 'http://www.w3.org/2000/svg';
  const rowHeight = 17;
  const graphWidth = width();
  const colors = ['#f08c00', '#e8590c', '#f59f00', '#fab005', '#d9480f'];
  data.flames.forEach((flame, index) => {
    const section = document.createElement('div');
    section.className = 'flame';
    const heading = document.createElement('h3');
    heading.textContent = flame.spanName + ' — ' + (flame.totalNanos / 1e6).toFixed(1) + ' ms sampled; hottest: ' +
      flame.hottest.map((fn) => fn.name + ' ' + (fn.nanos / 1e6).toFixed(1) + ' ms').join(', ');
    section.append(heading);
    let depth = 0;
    const measure = (node, level) => { depth = Math.max(depth, level + 1); node.children.forEach((c) => measure(c, level + 1)); };
    measure(flame.root, 0);
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'flame-graph');
    svg.setAttribute('data-span-name', flame.spanName);
    svg.setAttribute('width', String(graphWidth));
    svg.setAttribute('height', String(depth * rowHeight));
    const scale = graphWidth / Math.max(1, flame.root.value);
    const draw = (node, x, level) => {
      const w = node.value * scale;
      const group = document.createElementNS(ns, 'g');
      const title = document.createElementNS(ns, 'title');
      title.textContent = node.name + ': ' + (node.value / 1e6).toFixed(2) + ' ms (' + (100 * node.value / flame.root.value).toFixed(1) + ' %)';
      const rect = document.createElementNS(ns, 'rect');
      rect.setAttribute('x', String(x)); rect.setAttribute('y', String(level * rowHeight));
      rect.setAttribute('width', String(Math.max(0.5, w - 0.5))); rect.setAttribute('height', String(rowHeight - 1));
      rect.setAttribute('fill', level === 0 ? '#868e96' : colors[(node.name.length + level) % colors.length]);
      group.append(title, rect);
      if (w > 40) {
        const text = document.createElementNS(ns, 'text');
        text.setAttribute('x', String(x + 3)); text.setAttribute('y', String(level * rowHeight + 12));
        const chars = Math.floor((w - 6) / 6.5);
        text.textContent = node.name.length > chars ? node.name.slice(0, Math.max(1, chars - 1)) + '…' : node.name;
        group.append(text);
      }
      svg.append(group);
      let childX = x;
      node.children.forEach((c) => { draw(c, childX, level + 1); childX += c.value * scale; });
    };
    draw(flame.root, 0, 0);
    section.append(svg);
    holder.append(section);
    drawn['flame' + index] = { points: flame.root.children.length, series: 1 };
  });
}
if (data.flames.length > 0) drawFlames();
// Set once the first chart is ready and the spans are drawn against its scale: the tests wait for it.
function finish() {
  setTimeout(() => {
    window.__report = { drawn: Object.fromEntries(Object.entries(drawn).map(([id, d]) => [id, { points: d.points, series: d.series }])) };
  }, 0);
}
`;

/** A self-contained HTML page: the curves (peaks marked), the summary, and the command's spans on a timeline. */
export function renderReport(input: ReportInput): string {
  const { script, style } = chartLibrary();
  const data = series(input);
  const figures = input.figures;
  const payload = {
    ...data,
    spans: spanRows(input.spans),
    gpuLabels: input.gpus.map((gpu) => gpu.label),
    cpuPeak: peakMarker(data.seconds, data.cpuPercent, (value) => `${value.toFixed(0)} %`),
    rssPeak: {
      seconds: figures.peakTreeRssAtSeconds,
      label: `peak ${(figures.peakTreeRssBytes / 1048576).toFixed(1)} MiB`,
    },
    gpuPeak: peakMarker(data.seconds, data.gpuMiB[0] ?? [], (value) => `${value.toFixed(1)} MiB`),
    flames: input.flames ?? [],
  };
  const total = figures.wallSeconds;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)} — otel-resource-tracker</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<style>${style}
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#212529}
h1{font-size:20px;margin:0 0 4px}pre.summary{background:#f8f9fa;padding:10px;border-radius:4px;overflow:auto}
.note{color:#868e96}#timeline rect.d0{fill:#1c7ed6}#timeline rect.d1{fill:#4dabf7}#timeline rect.d2{fill:#74c0fc}#timeline rect.d3{fill:#a5d8ff}
#timeline text{font-size:11px;fill:#212529}.flame-graph text{font-size:11px;fill:#212529}.flame h3{font-size:14px;margin:12px 0 4px}.charts>div{margin-bottom:8px}</style></head>
<body><h1>${escapeHtml(input.title)}</h1>
<p class="note">${samplesNote(input)} over ${total.toFixed(2)} s, written by otel-resource-tracker run</p>
<pre class="summary">${escapeHtml(formatSummary(figures, input.notes))}</pre>
<div class="charts"><div id="cpu"></div><div id="rss"></div><div id="gpu"></div></div>
<h2>Spans of the command</h2><div id="spans"></div>${
    (input.flames?.length ?? 0) > 0
      ? '<h2>CPU by span name (profiler)</h2><p class="note">The sampled stacks of each span name, callers above callees; width is time. The pprof files hold the same samples, labelled span_id, span_name and trace_id.</p><div id="flames"></div>'
      : ''
  }
<script id="report-data" type="application/json">${scriptJson(payload)}</script>
<script>${script}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}

/** How many samples the curves hold, and what each point stands for on a long run. */
function samplesNote(input: ReportInput): string {
  const taken = input.samplesTaken ?? input.samples.length;
  if (taken <= input.samples.length) return `${taken} samples`;
  return `${taken} samples (drawn as ${input.samples.length} points, each the peak of ~${Math.round(taken / input.samples.length)} samples)`;
}

/** The spans in start order, times in seconds since the run started, with their depth under the run's root. */
function spanRows(
  spans: readonly LoggedSpan[],
): Array<{ name: string; start: number; end: number; depth: number; pid: number }> {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const depth = (span: LoggedSpan): number => {
    let level = 0;
    for (let parent = byId.get(span.parentSpanId ?? ''); parent !== undefined && level < 20; level++) {
      parent = byId.get(parent.parentSpanId ?? '');
    }
    return level;
  };
  return [...spans]
    .sort((a, b) => a.startMs - b.startMs)
    .map((span) => ({
      name: span.name,
      start: span.startMs / 1000,
      end: span.endMs / 1000,
      depth: depth(span),
      pid: span.pid,
    }));
}

/** Where a curve peaks and a label with its value, for the chart's marker; null for a curve with no value. */
function peakMarker(
  seconds: readonly number[],
  values: readonly number[],
  format: (value: number) => string,
): { seconds: number; label: string } | null {
  let best = -1;
  values.forEach((value, index) => {
    if (Number.isFinite(value) && (best < 0 || value > (values[best] as number))) best = index;
  });
  return best < 0
    ? null
    : { seconds: seconds[best] as number, label: `peak ${format(values[best] as number)}` };
}

/** Writes the page to the file the user named (never through a FIFO or a dangling link: see openOutputFile). */
export function writeReport(file: string, input: ReportInput): void {
  const page = renderReport(input);
  const fd = openOutputFile(file, 'truncate');
  try {
    writeSync(fd, page);
  } finally {
    closeSync(fd);
  }
}
