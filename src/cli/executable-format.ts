import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** What execvp finds for `command`: the command itself when it names a path, else the first match on PATH. */
function resolve(command: string, path: string | undefined): string | undefined {
  if (command.includes('/')) return command;
  // execvp's default when PATH is unset.
  for (const dir of (path ?? '/bin:/usr/bin').split(':')) {
    const candidate = join(dir === '' ? '.' : dir, command);
    try {
      if (statSync(candidate).isFile()) {
        accessSync(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Why `command` cannot be run although it is an executable file, or undefined. When the kernel refuses a file's
 * format (ENOEXEC: no "#!" line, not a binary), execvp, which Node's spawn uses, runs it with /bin/sh instead:
 * a shell would then read a data file or a binary for another machine as commands. The wrapper refuses it (exit
 * 126, as documented) unless it starts with "#!" or is ELF. Anything else wrong (not found, no permission) is left
 * to the spawn, which says so.
 */
export function unrunnableFormat(command: string, path: string | undefined): string | undefined {
  const file = resolve(command, path);
  if (file === undefined) return undefined;
  const head = Buffer.alloc(4);
  let length: number;
  try {
    if (!statSync(file).isFile()) return undefined;
    const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      length = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    // unreadable (an execute-only binary): the kernel decides
    return undefined;
  }
  const script = length >= 2 && head[0] === 0x23 && head[1] === 0x21;
  const elf = length === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  return script || elf ? undefined : 'not a program (no "#!" line, not an ELF binary)';
}
