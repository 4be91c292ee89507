import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';

/** e_machine of the architectures Node runs on here; a library for another one cannot load. */
const MACHINES: Record<string, number> = { x64: 62, arm64: 183, ia32: 3, arm: 40, ppc64: 21, s390x: 22 };
const ELF_MAGIC = 0x464c457f; // "\x7fELF" read little-endian
const ET_DYN = 3;
const PT_LOAD = 1;
/** No libnvidia-ml is near this; a larger "library" is not one, and reading its headers must stay cheap. */
const MAX_LIBRARY_BYTES = 2 * 1024 ** 3;
const MAX_PROGRAM_HEADERS = 256;

/**
 * Why `path` cannot be a shared library this process could load, or undefined when it looks like one. Checked
 * without loading it, reading only its headers: a regular file (a FIFO would block `open` for ever, a directory or
 * device is no library), of a sane size, an ELF shared object of this process's class, byte order and machine,
 * whose program and section header tables and loadable segments all lie inside the file (a truncated copy maps
 * pages past its end, and touching them is a SIGBUS that kills the process). The file is opened with O_NONBLOCK,
 * so a FIFO put there after any earlier check cannot block either.
 */
export function sharedObjectProblem(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return `cannot be opened (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) return 'is not a regular file';
    if (info.size > MAX_LIBRARY_BYTES) return `is ${info.size} bytes, too large for a library`;
    return elfProblem(fd, info.size);
  } finally {
    closeSync(fd);
  }
}

function read(fd: number, offset: number, length: number): Buffer | undefined {
  const buffer = Buffer.alloc(length);
  return readSync(fd, buffer, 0, length, offset) === length ? buffer : undefined;
}

function elfProblem(fd: number, size: number): string | undefined {
  const header = read(fd, 0, 64);
  if (header === undefined || header.readUInt32LE(0) !== ELF_MAGIC) return 'is not an ELF file';
  const is64 = header[4] === 2;
  if (
    is64 !==
    (process.arch === 'x64' ||
      process.arch === 'arm64' ||
      process.arch === 'ppc64' ||
      process.arch === 's390x')
  )
    return `is a ${is64 ? '64' : '32'}-bit ELF file, and this process is not`;
  const littleEndian = header[5] === 1;
  if (littleEndian !== (endianness() === 'LE')) return 'has the wrong byte order for this machine';
  const u16 = (buffer: Buffer, at: number) =>
    littleEndian ? buffer.readUInt16LE(at) : buffer.readUInt16BE(at);
  const u32 = (buffer: Buffer, at: number) =>
    littleEndian ? buffer.readUInt32LE(at) : buffer.readUInt32BE(at);
  const word = (buffer: Buffer, at: number) =>
    is64 ? Number(littleEndian ? buffer.readBigUInt64LE(at) : buffer.readBigUInt64BE(at)) : u32(buffer, at);
  if (u16(header, 16) !== ET_DYN) return 'is not a shared object (ELF type is not ET_DYN)';
  const machine = MACHINES[process.arch];
  if (machine !== undefined && u16(header, 18) !== machine)
    return `is built for another machine (ELF machine ${u16(header, 18)}, this is ${process.arch})`;
  const phoff = word(header, is64 ? 32 : 28);
  const shoff = word(header, is64 ? 40 : 32);
  const phentsize = u16(header, is64 ? 54 : 42);
  const phnum = u16(header, is64 ? 56 : 44);
  const shentsize = u16(header, is64 ? 58 : 46);
  const shnum = u16(header, is64 ? 60 : 48);
  const truncated = `is truncated or damaged (${size} bytes, its headers describe more)`;
  if (phnum === 0 || phnum > MAX_PROGRAM_HEADERS || phentsize < (is64 ? 56 : 32)) return truncated;
  if (phoff + phnum * phentsize > size) return truncated;
  if (shoff !== 0 && shoff + shnum * shentsize > size) return truncated;
  const table = read(fd, phoff, phnum * phentsize);
  if (table === undefined) return truncated;
  for (let entry = 0; entry < phnum; entry++) {
    const at = entry * phentsize;
    if (u32(table, at) !== PT_LOAD) continue;
    const offset = word(table, at + (is64 ? 8 : 4));
    const fileSize = word(table, at + (is64 ? 32 : 16));
    if (offset + fileSize > size) return truncated;
  }
  return undefined;
}
