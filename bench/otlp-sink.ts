import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What one sender (one path prefix) exported: spans, SERVER spans, and their encoded sizes. */
export interface SinkTally {
  requests: number;
  bodyBytes: number;
  spans: number;
  serverSpans: number;
  /** Encoded bytes of the SERVER spans' Span messages (their attributes, ids, times, name…). */
  serverSpanBytes: number;
  /** Attributes on SERVER spans, summed. */
  serverSpanAttributes: number;
}

/** OTLP's SpanKind on the wire: SPAN_KIND_SERVER. */
const SPAN_KIND_SERVER = 2;

/** The fields of one protobuf message: field number, wire type, and for length-delimited ones the bytes. */
function* fields(buffer: Buffer, start: number, end: number): Generator<[number, number, number, number]> {
  let offset = start;
  const varint = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = buffer[offset++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  };
  while (offset < end) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const value = varint();
      yield [field, wire, value, 0];
    } else if (wire === 1) {
      offset += 8;
    } else if (wire === 5) {
      offset += 4;
    } else if (wire === 2) {
      const length = varint();
      yield [field, wire, offset, offset + length];
      offset += length;
    } else {
      throw new Error(`unexpected protobuf wire type ${wire}`);
    }
  }
}

/** Counts the spans of an ExportTraceServiceRequest (resource_spans = 1 → scope_spans = 2 → spans = 2). */
function tallyRequest(body: Buffer, tally: SinkTally): void {
  for (const [resourceField, , resourceStart, resourceEnd] of fields(body, 0, body.length)) {
    if (resourceField !== 1) continue;
    for (const [scopeField, , scopeStart, scopeEnd] of fields(body, resourceStart, resourceEnd)) {
      if (scopeField !== 2) continue;
      for (const [spanField, , spanStart, spanEnd] of fields(body, scopeStart, scopeEnd)) {
        if (spanField !== 2) continue;
        tally.spans++;
        let kind = 0;
        let attributes = 0;
        for (const [field, wire, value] of fields(body, spanStart, spanEnd)) {
          if (field === 6 && wire === 0) kind = value;
          if (field === 9 && wire === 2) attributes++;
        }
        if (kind === SPAN_KIND_SERVER) {
          tally.serverSpans++;
          tally.serverSpanBytes += spanEnd - spanStart;
          tally.serverSpanAttributes += attributes;
        }
      }
    }
  }
}

/**
 * An OTLP/HTTP protobuf receiver in the bench process that decodes only what it counts: each sender exports to its
 * own path prefix (`<url>/<sender>`, the exporter adds /v1/traces), so that spans are tallied per configuration
 * whatever the batching delays.
 */
export async function startOtlpSink(): Promise<{
  url: string;
  server: Server;
  tally(sender: string): SinkTally;
}> {
  const tallies = new Map<string, SinkTally>();
  const tally = (sender: string): SinkTally => {
    let found = tallies.get(sender);
    if (found === undefined) {
      found = {
        requests: 0,
        bodyBytes: 0,
        spans: 0,
        serverSpans: 0,
        serverSpanBytes: 0,
        serverSpanAttributes: 0,
      };
      tallies.set(sender, found);
    }
    return found;
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const sender = /^\/([^/]+)\/v1\/traces/.exec(request.url ?? '')?.[1];
      if (sender !== undefined) {
        const body = Buffer.concat(chunks);
        const counts = tally(sender);
        counts.requests++;
        counts.bodyBytes += body.length;
        tallyRequest(body, counts);
      }
      response.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, tally };
}
