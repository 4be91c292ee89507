import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync, type Stats } from 'node:fs';

const { O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_WRONLY } = constants;

/** What a path is, in words, for an error that names it. */
function kind(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Opens a file the user named (--json, --report, OTEL_RESOURCE_TRACKER_SPAN_LOG) for writing, as named: an existing
 * file, or a link to one, is written (truncated, or appended to); a missing one is created with `mode` (less the
 * umask), never through a link. Never a FIFO (a write would hang or feed whoever reads it), a socket, a directory
 * or a block device, and never a dangling link (which would create a file wherever it points): those throw an
 * error naming the path. Character devices (/dev/null, a terminal) are written as any writer would.
 */
export function openOutputFile(path: string, how: 'truncate' | 'append', mode = 0o666): number {
  const append = how === 'append' ? O_APPEND : 0;
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO with no reader fails at once (ENXIO) instead of hanging the open.
    fd = openSync(path, O_WRONLY | O_NONBLOCK | append);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENXIO') throw new Error(`${path} is a FIFO (or a socket): not written`);
    if (code !== 'ENOENT') throw error;
    let link = false;
    try {
      link = lstatSync(path).isSymbolicLink();
    } catch {
      // nothing there: created below
    }
    if (link) throw new Error(`${path} is a link to a file that does not exist: not followed`);
    fd = openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | append, mode);
  }
  const stats = fstatSync(fd);
  if (!stats.isFile() && !stats.isCharacterDevice()) {
    closeSync(fd);
    throw new Error(`${path} is ${kind(stats)}: not written`);
  }
  if (how === 'truncate' && stats.isFile()) ftruncateSync(fd, 0);
  return fd;
}
