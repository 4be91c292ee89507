import { readFileSync } from 'node:fs';

/** Why a file gave no value: it is not there (the kernel or driver does not publish it), or it said nonsense. */
export type ValueProblem = 'missing' | 'unreadable' | 'malformed';

export type ValueResult<T> =
  | { readonly value: T }
  | { readonly problem: ValueProblem; readonly detail: string };

/** The trimmed text of a small sysfs or procfs file. */
export function readText(path: string): ValueResult<string> {
  try {
    return { value: readFileSync(path, 'latin1').trim() };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR'
      ? { problem: 'missing', detail: `${path} does not exist` }
      : { problem: 'unreadable', detail: `${path} cannot be read (${code ?? String(error)})` };
  }
}

/** A file holding one unsigned decimal integer (`mem_info_vram_used`, `gpu_busy_percent`). */
export function readUnsigned(path: string): ValueResult<number> {
  const text = readText(path);
  if (!('value' in text)) return text;
  const value = /^\d+$/.test(text.value) ? Number(text.value) : Number.NaN;
  return Number.isSafeInteger(value)
    ? { value }
    : {
        problem: 'malformed',
        detail: `${path} holds ${JSON.stringify(text.value.slice(0, 40))}, not a number`,
      };
}

/** `KEY=VALUE` lines (a sysfs `uevent` file). */
export function parseUevent(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const equals = line.indexOf('=');
    if (equals > 0) entries.set(line.slice(0, equals), line.slice(equals + 1).trim());
  }
  return entries;
}
