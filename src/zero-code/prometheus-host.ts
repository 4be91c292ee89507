import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { ConfigError, ENV_PROMETHEUS_HOST, type Environment } from '../config/env.js';
import { quoteForMessage } from '../internal/validate.js';
import { resolveHost } from '../prometheus/endpoint-address.js';

/** The longest a start waits for the host name's lookup; past it, the endpoint says on its own if it cannot listen. */
const LOOKUP_WAIT_MS = 2000;

/** What the lookup answered: the addresses, or the code of its error. */
type LookupAnswer = { addresses: string[] } | { error: string };

/** Looks the name up off the main thread and wakes it with the answer. */
const LOOKUP = `
const { workerData } = require('node:worker_threads');
require('node:dns').lookup(workerData.host, { all: true }, (error, addresses) => {
  workerData.port.postMessage(
    error ? { error: String(error.code ?? error.message) } : { addresses: addresses.map((entry) => entry.address) },
  );
  Atomics.store(workerData.signal, 0, 1);
  Atomics.notify(workerData.signal, 0);
});
`;

/** The name's addresses, its lookup's error, or undefined when it did not answer within LOOKUP_WAIT_MS. */
function lookUp(host: string): LookupAnswer | undefined {
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(LOOKUP, {
    eval: true,
    workerData: { host, signal, port: port2 },
    transferList: [port2],
    // Not the preloads of this process again (the zero-code entry itself among them).
    execArgv: [],
  });
  worker.unref();
  try {
    Atomics.wait(signal, 0, 0, LOOKUP_WAIT_MS);
    return receiveMessageOnPort(port1)?.message as LookupAnswer | undefined;
  } finally {
    port1.close();
    void worker.terminate();
  }
}

/** Whether a server can listen on `address` here: any, loopback, or an address of one of this machine's interfaces. */
function isLocalAddress(address: string): boolean {
  if (address === '0.0.0.0' || address === '::' || address === '::1' || address.startsWith('127.'))
    return true;
  return Object.values(networkInterfaces()).some((entries) =>
    (entries ?? []).some((entry) => entry.address === address.replace(/%.*$/, '')),
  );
}

/**
 * Refuses an OTEL_EXPORTER_PROMETHEUS_HOST that the endpoint could not listen on — a name that does not resolve, an
 * address of another machine — before anything starts, as a bad port is, rather than starting tracing and finding
 * out when the endpoint fails. The zero-code entry must start synchronously (a `--require` preload) and DNS answers
 * only asynchronously, so a name is looked up in a worker thread that the start waits for (at most LOOKUP_WAIT_MS;
 * an address, localhost and the default 127.0.0.1 need no lookup). A lookup that does not answer in time, or fails
 * for another reason than "no such name", lets the start go on; the endpoint then names the variable if it fails.
 */
export function assertPrometheusHostUsable(env: Environment): void {
  let host: string;
  try {
    host = resolveHost({}, env);
  } catch {
    return; // Not a host name at all: the configuration's reading names it (zero-code-config.ts), once.
  }
  if (host === 'localhost') return;
  const refuse = (why: string) =>
    new ConfigError(
      `${ENV_PROMETHEUS_HOST} must be an address or host name of this machine (0.0.0.0 for all); got ${quoteForMessage(host)}, ${why}`,
    );
  if (isIP(host.replace(/^\[(.*)\]$/, '$1')) !== 0) {
    if (!isLocalAddress(host.replace(/^\[(.*)\]$/, '$1')))
      throw refuse('which is not an address of this machine');
    return;
  }
  const answer = lookUp(host);
  if (answer === undefined) return;
  if ('error' in answer) {
    if (answer.error === 'ENOTFOUND') throw refuse('which does not resolve (getaddrinfo ENOTFOUND)');
    return;
  }
  if (!answer.addresses.some(isLocalAddress)) {
    throw refuse(`which resolves to ${answer.addresses.join(', ')}, not an address of this machine`);
  }
}
