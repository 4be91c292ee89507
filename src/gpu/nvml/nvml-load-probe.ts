/**
 * Run as its own process (`node nvml-load-probe.js <absolute path>`) before this package loads an NVML library
 * into the application: it loads the library and calls nvmlInit_v2, then says how that went on stdout. A library
 * that crashes (a truncated or foreign file that slipped past the header checks, a constructor that faults) or
 * hangs takes this process down, not the application. Nothing else may be imported here: it must start fast.
 */
import koffi from 'koffi';

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write('usage: nvml-load-probe <library>\n');
  process.exit(2);
}
const library = koffi.load(path);
const init = library.func('int nvmlInit_v2()') as () => number;
const status = init();
if (status === 0) (library.func('int nvmlShutdown()') as () => number)();
process.stdout.write(`nvmlInit_v2 ${status}\n`);
