/**
 * Flush at the natural end (beforeExit) and on SIGTERM / SIGINT. A signal handler replaces Node's default of
 * exiting, so once flushed we re-raise the signal for the default to happen — unless the application listens to
 * it too, in which case its own handler decides when to exit.
 */
export function installExitHooks(shutdown: () => Promise<void>): void {
  process.once('beforeExit', () => void shutdown());
  installUncaughtExceptionFlush(shutdown);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      // Asked now, while the application's own handlers for this signal (if any) are still registered.
      const applicationHandles = process.listenerCount(signal) > 0;
      shutdown().finally(() => {
        if (!applicationHandles) process.kill(process.pid, signal);
      });
    };
    process.once(signal, onSignal);
  }
}

/** How long a crash may wait for spans to be flushed before the process exits anyway. */
const CRASH_FLUSH_TIMEOUT_MS = 2000;

/**
 * An uncaught exception ends the process synchronously, before any export could happen, so the spans that explain
 * the crash would be lost. When the application has no handler of its own we take Node's place: print the error
 * as Node would, flush (at most 2 s), and exit with code 1. An application with its own 'uncaughtException'
 * handler keeps full control: we do nothing then.
 */
function installUncaughtExceptionFlush(shutdown: () => Promise<void>): void {
  const onUncaught = (error: unknown, origin: string) => {
    if (process.listenerCount('uncaughtException') > 1) return;
    process.removeListener('uncaughtException', onUncaught);
    process.exitCode = 1;
    const described = error instanceof Error ? (error.stack ?? String(error)) : String(error);
    process.stderr.write(
      `${described}\n${origin === 'unhandledRejection' ? '(from an unhandled promise rejection)\n' : ''}`,
    );
    const timeout = setTimeout(() => process.exit(1), CRASH_FLUSH_TIMEOUT_MS);
    timeout.unref();
    shutdown().finally(() => process.exit(1));
  };
  process.on('uncaughtException', onUncaught);
}
