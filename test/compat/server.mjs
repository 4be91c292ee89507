/** A node:http service instrumented by hand with the OpenTelemetry API: every request is a span that burns 50 ms. */
import { createServer } from 'node:http';
import { trace } from '@opentelemetry/api';

const tracer = trace.getTracer('compat-server');
const server = createServer((_request, response) => {
  tracer.startActiveSpan('GET /work', (span) => {
    const start = process.cpuUsage();
    while (process.cpuUsage(start).user < 50_000);
    response.end('done');
    span.end();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
