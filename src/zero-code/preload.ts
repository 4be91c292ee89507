import { isMainThread } from 'node:worker_threads';
import type { Loader } from './esm-hook.js';
import { startZeroCode } from './start.js';

/**
 * Starts the zero-code entry from a preload, which must never take the application down with it. Only on the main
 * thread: Node runs preloads in worker threads too — the ESM loader's hooks thread among them — and a second SDK
 * there would export a second copy of the process's metrics under another instance id.
 */
export function startFromPreload(loader: Loader): void {
  if (!isMainThread) return;
  try {
    startZeroCode(process.env, loader);
  } catch (error) {
    console.error(`otel-resource-tracker: zero-code start failed: ${String(error)}. Tracing is not started.`);
  }
}
