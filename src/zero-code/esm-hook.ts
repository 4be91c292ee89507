import { readFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Whether the application's main script is an ES module: `.mjs`, or `.js` under a package of "type": "module". */
function mainLooksEsm(): boolean {
  const main = process.argv[1];
  if (main === undefined || main.endsWith('.cjs')) return false;
  if (main.endsWith('.mjs')) return true;
  for (let dir = dirname(main); ; dir = dirname(dir)) {
    try {
      return (
        (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: unknown }).type === 'module'
      );
    } catch {
      if (dirname(dir) === dir) return false;
    }
  }
}

/** How the entry was loaded: `--import` (an ES module preload) or `--require` (require(esm) of the same module). */
export type Loader = 'import' | 'require';

interface SyncHooks {
  supportsSyncHooks(): boolean;
}
interface SyncRegister {
  register(options?: object): void;
}

/**
 * ESM applications are instrumented only through a module loader hook: `import` does not go through `require`, so
 * the instrumentations' require hooks never see `import express from 'express'`. We install import-in-the-middle,
 * the copy that @opentelemetry/instrumentation (next to the auto-instrumentations) uses:
 * - in-thread with `module.registerHooks` where import-in-the-middle supports it (Node >= 22.22.3, 24.11.1, 26),
 *   which also spares the hooks thread and Node 26's deprecation of `module.register`;
 * - else with `module.register('@opentelemetry/instrumentation/hook.mjs')`, as upstream documents — from an
 *   `--import` preload, or from `--require` on Node 20 (where import-in-the-middle then warns that its hook was
 *   initialized twice, harmlessly): from a `--require` preload on Node 22 before 22.22.3 it fails and takes the
 *   process down with an uncaught error in the hooks thread, so there we leave ES modules uninstrumented and say
 *   so. Returns that line, when it applies.
 */
export function registerEsmHook(autoInstrumentationsPath: string, loader: Loader): string | undefined {
  const fromAuto = nodeModule.createRequire(autoInstrumentationsPath);
  // The hook is the one file every line of @opentelemetry/instrumentation exports (3.x has an exports map).
  const hookPath = fromAuto.resolve('@opentelemetry/instrumentation/hook.mjs');
  const fromInstrumentation = nodeModule.createRequire(hookPath);
  let sync: SyncHooks | undefined;
  try {
    sync = fromInstrumentation('import-in-the-middle/supports-sync-hooks.mjs') as SyncHooks;
  } catch {
    // An import-in-the-middle without synchronous hooks: the asynchronous loader below.
  }
  if (sync?.supportsSyncHooks() === true) {
    (fromInstrumentation('import-in-the-middle/register-hooks.mjs') as SyncRegister).register();
    return undefined;
  }
  if (loader === 'require' && !process.versions.node.startsWith('20.')) {
    if (!mainLooksEsm()) return undefined;
    return (
      `ES modules are not instrumented when the entry is loaded with --require on Node ${process.versions.node} ` +
      '(CommonJS modules are): load it with --import for an ESM application'
    );
  }
  nodeModule.register(pathToFileURL(hookPath).href);
  return undefined;
}
