import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as received over OTLP/JSON, attributes decoded to plain values. */
export interface ReceivedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  scope: string;
  /** Unix time in milliseconds (from the nanoseconds on the wire). */
  startMs: number;
  endMs: number;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

/** One metric data point as received over OTLP/JSON. */
export interface ReceivedPoint {
  metric: string;
  /** The OTLP data kind: gauge, sum, histogram or exponentialHistogram. */
  kind: string;
  /** Explicit bucket boundaries (histograms). */
  bounds?: number[];
  scope: string;
  attributes: Record<string, unknown>;
  value: number | undefined;
  resource: Record<string, unknown>;
}

interface OtlpMetricsRequest {
  resourceMetrics?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeMetrics?: Array<{
      scope?: { name?: string };
      metrics?: Array<{
        name: string;
        gauge?: { dataPoints?: OtlpNumberPoint[] };
        sum?: { dataPoints?: OtlpNumberPoint[] };
        histogram?: {
          dataPoints?: Array<{
            attributes?: OtlpKeyValue[];
            count?: string | number;
            explicitBounds?: number[];
          }>;
        };
        exponentialHistogram?: {
          dataPoints?: Array<{ attributes?: OtlpKeyValue[]; count?: string | number }>;
        };
      }>;
    }>;
  }>;
}

interface OtlpNumberPoint {
  attributes?: OtlpKeyValue[];
  asDouble?: number;
  asInt?: string | number;
}

interface OtlpValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpValue[] };
}

interface OtlpKeyValue {
  key: string;
  value: OtlpValue;
}

interface OtlpTraceRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{
      scope?: { name?: string };
      spans?: Array<{
        name: string;
        kind?: number;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        startTimeUnixNano?: string | number;
        endTimeUnixNano?: string | number;
        attributes?: OtlpKeyValue[];
      }>;
    }>;
  }>;
}

function decodeValue(value: OtlpValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(decodeValue);
  return undefined;
}

function nanosToMs(nanos: string | number | undefined): number {
  return nanos === undefined ? Number.NaN : Number(BigInt(nanos) / 1000n) / 1000;
}

function decodeAttributes(attributes: OtlpKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((attributes ?? []).map(({ key, value }) => [key, decodeValue(value)]));
}

/**
 * An OTLP/HTTP receiver on 127.0.0.1, in the test process: decodes what an exporter really sends (OTLP/JSON), and
 * records the content type and size of anything else (OTLP/protobuf) so that the protocol is visible.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly points: ReceivedPoint[] = [];
  readonly requests: Array<{ path: string; contentType: string; bytes: number }> = [];
  /** The last OTLP/JSON metrics request as sent (cumulative temporality: it holds every series). */
  lastMetricsRequest: unknown;
  /** Answer every request this much later (a slow receiver). */
  delayMs = 0;
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        const contentType = request.headers['content-type'] ?? '';
        this.requests.push({ path: request.url ?? '', contentType, bytes: body.length });
        if (contentType.includes('json') && request.url === '/v1/traces')
          this.decode(JSON.parse(body.toString()));
        if (contentType.includes('json') && request.url === '/v1/metrics') {
          this.lastMetricsRequest = JSON.parse(body.toString());
          this.decodeMetrics(this.lastMetricsRequest as OtlpMetricsRequest);
        }
        response.writeHead(200, {
          'Content-Type': contentType.includes('json') ? 'application/json' : contentType,
        });
        response.end(contentType.includes('json') ? '{}' : '');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  span(name: string): ReceivedSpan {
    const span = this.spans.find((candidate) => candidate.name === name);
    if (span === undefined)
      throw new Error(`no span named ${name} received; got ${this.spans.map((s) => s.name).join(', ')}`);
    return span;
  }

  private decodeMetrics(request: OtlpMetricsRequest): void {
    for (const resourceMetrics of request.resourceMetrics ?? []) {
      const resource = decodeAttributes(resourceMetrics.resource?.attributes);
      for (const scopeMetrics of resourceMetrics.scopeMetrics ?? []) {
        const scope = scopeMetrics.scope?.name ?? '';
        for (const metric of scopeMetrics.metrics ?? []) {
          const numbers = metric.gauge?.dataPoints ?? metric.sum?.dataPoints ?? [];
          for (const point of numbers) {
            const value = point.asDouble ?? (point.asInt === undefined ? undefined : Number(point.asInt));
            this.points.push({
              metric: metric.name,
              kind: metric.gauge ? 'gauge' : 'sum',
              scope,
              attributes: decodeAttributes(point.attributes),
              value,
              resource,
            });
          }
          for (const point of metric.histogram?.dataPoints ?? []) {
            const value = point.count === undefined ? undefined : Number(point.count);
            this.points.push({
              metric: metric.name,
              kind: 'histogram',
              bounds: point.explicitBounds ?? [],
              scope,
              attributes: decodeAttributes(point.attributes),
              value,
              resource,
            });
          }
          for (const point of metric.exponentialHistogram?.dataPoints ?? []) {
            this.points.push({
              metric: metric.name,
              kind: 'exponentialHistogram',
              scope,
              attributes: decodeAttributes(point.attributes),
              value: point.count === undefined ? undefined : Number(point.count),
              resource,
            });
          }
        }
      }
    }
  }

  private decode(request: OtlpTraceRequest): void {
    for (const resourceSpans of request.resourceSpans ?? []) {
      const resource = decodeAttributes(resourceSpans.resource?.attributes);
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          this.spans.push({
            name: span.name,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            kind: span.kind ?? 0,
            scope: scopeSpans.scope?.name ?? '',
            startMs: nanosToMs(span.startTimeUnixNano),
            endMs: nanosToMs(span.endTimeUnixNano),
            attributes: decodeAttributes(span.attributes),
            resource,
          });
        }
      }
    }
  }
}

/** A new receiver for every test of the calling suite (as mocha hooks), stopped after each. */
export function receiverPerTest(): { readonly receiver: OtlpReceiver; readonly endpoint: string } {
  const current = { receiver: new OtlpReceiver(), endpoint: '' };
  beforeEach(async () => {
    current.receiver = new OtlpReceiver();
    current.endpoint = await current.receiver.start();
  });
  afterEach(() => current.receiver.stop());
  return current;
}
