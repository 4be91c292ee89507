/**
 * The SDK packages that only some entry points need (the Prometheus endpoint, the zero-code entry) are optional
 * peer dependencies: the application's own copy is used, so that there is one copy of each in its tree, and a
 * library-only user installs none of them. This loads one, and turns "not installed" into an error that says
 * what to install.
 */
export class MissingPeerError extends Error {
  constructor(
    readonly packages: readonly string[],
    what: string,
    versions: string = PEER_LINES,
  ) {
    super(
      `${what} needs ${packages.join(' and ')}, which ${packages.length > 1 ? 'are' : 'is'} not installed: ` +
        `npm install ${packages.join(' ')} (the versions of your OpenTelemetry line: ${versions})`,
    );
    this.name = 'MissingPeerError';
  }
}

/** How a user picks versions: the two lines the package supports. */
const PEER_LINES =
  '0.223.x / 2.12.x with @opentelemetry/api 1.9, or 0.301.x / 3.1.x with @opentelemetry/api 1.10';

/** Whether `error` is Node's "cannot find" for `name` itself (not for something `name` imports in turn). */
export function isNotFound(error: unknown, name: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    String((error as Error).message).includes(name)
  );
}

/** Imports each of `names` (the caller's dynamic imports), or throws one MissingPeerError naming all the missing. */
export async function importPeers<T extends readonly unknown[]>(
  what: string,
  names: readonly string[],
  load: () => { [K in keyof T]: Promise<T[K]> },
): Promise<T> {
  const results = await Promise.allSettled(load());
  const missing: string[] = [];
  const modules: unknown[] = [];
  results.forEach((result, index) => {
    const name = names[index] ?? '';
    if (result.status === 'fulfilled') modules.push(result.value);
    else if (isNotFound(result.reason, name)) missing.push(name);
    else throw result.reason;
  });
  if (missing.length > 0) throw new MissingPeerError(missing, what);
  return modules as unknown as T;
}
