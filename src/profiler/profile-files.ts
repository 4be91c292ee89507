import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** `cpu-<pid>-<UTC time>.pb.gz`: one process's files sort by time, and each says whose it is. */
const PROFILE_FILE = /^cpu-\d+-\d{8}T\d{9}Z(-\d+)?\.pb\.gz$/;

function twoDigits(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** The file name for a profile that starts at `epochMs` (UTC, to the millisecond: `20261207T114600123Z`). */
export function profileFileName(pid: number, epochMs: number): string {
  const at = new Date(epochMs);
  const stamp =
    `${at.getUTCFullYear()}${twoDigits(at.getUTCMonth() + 1)}${twoDigits(at.getUTCDate())}T` +
    `${twoDigits(at.getUTCHours())}${twoDigits(at.getUTCMinutes())}${twoDigits(at.getUTCSeconds())}` +
    `${twoDigits(at.getUTCMilliseconds(), 3)}Z`;
  return `cpu-${pid}-${stamp}.pb.gz`;
}

/** Whether `name` is one of our profile files (of any process). */
export function isProfileFileName(name: string): boolean {
  return PROFILE_FILE.test(name);
}

/**
 * Writes `bytes` to a new file in `directory` and returns its path. The file is created, never reused: O_EXCL
 * refuses whatever already has the name (a link planted there, a FIFO — nothing is followed, nothing blocks),
 * O_NOFOLLOW and O_NONBLOCK say the same again. A name taken (two periods in one millisecond) gets a suffix.
 */
export function writeProfileFile(directory: string, name: string, bytes: Uint8Array): string {
  const flags =
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  for (let attempt = 0; ; attempt++) {
    const path = join(directory, attempt === 0 ? name : name.replace(/\.pb\.gz$/, `-${attempt}.pb.gz`));
    let fd: number;
    try {
      fd = openSync(path, flags, 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 100) continue;
      throw error;
    }
    try {
      if (!fstatSync(fd).isFile()) throw new Error(`${path} is not a regular file`);
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
    } catch (error) {
      closeSync(fd);
      // A half-written profile (a full disk) is no profile: take it away.
      try {
        unlinkSync(path);
      } catch {
        // Gone already, or the directory changed under us: nothing more to do.
      }
      throw error;
    }
    closeSync(fd);
    return path;
  }
}

/**
 * Keeps the directory's profile files (every process's) within `maxFiles` and `maxBytes`: the oldest go first;
 * `keep` (the file just written) is never removed. Only regular files with our name pattern are touched.
 */
export function pruneProfileFiles(directory: string, maxFiles: number, maxBytes: number, keep: string): void {
  const files = readdirSync(directory)
    .filter(isProfileFileName)
    .flatMap((name) => {
      try {
        const stat = lstatSync(join(directory, name));
        return stat.isFile() ? [{ name, bytes: stat.size, mtimeMs: stat.mtimeMs }] : [];
      } catch {
        return [];
      }
    })
    .sort((a, b) => b.mtimeMs - a.mtimeMs || (a.name < b.name ? 1 : -1));
  let count = 0;
  let bytes = 0;
  for (const file of files) {
    count++;
    bytes += file.bytes;
    const isKept = join(directory, file.name) === keep;
    if (!isKept && (count > maxFiles || bytes > maxBytes)) {
      try {
        unlinkSync(join(directory, file.name));
      } catch {
        // Another process pruned it first.
      }
    }
  }
}
