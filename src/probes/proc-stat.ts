import { readDecimalField } from './decimal-field.js';

const ASCII_CLOSE_PAREN = 41;
const ASCII_SPACE = 32;
const ASCII_MINUS = 45;

/** The fields of `/proc/<pid>/stat` the package reads, in clock ticks and pages as the kernel counts them. */
export interface ProcStat {
  /** Field 3: R, S, D, Z, T… */
  readonly state: string;
  /** Field 4. */
  readonly parentPid: number;
  /** Fields 14 and 15: the process's own user and system CPU. */
  readonly userTicks: number;
  readonly systemTicks: number;
  /** Fields 16 and 17: the CPU of the children it waited for. */
  readonly childrenUserTicks: number;
  readonly childrenSystemTicks: number;
  /** Field 24: resident set size. */
  readonly rssPages: number;
}

/** Field numbers as proc(5) gives them. */
const PARENT_PID = 4;
const USER_TIME = 14;
const SYSTEM_TIME = 15;
const CHILDREN_USER_TIME = 16;
const CHILDREN_SYSTEM_TIME = 17;
const RSS = 24;

/**
 * Parses one read of `/proc/<pid>/stat` ("pid (comm) state ppid …") in place, without making a string of it. The
 * command name may hold spaces, parentheses and ") ": fields are counted from the LAST ")" of the line, which the
 * kernel never writes after the name. Undefined for anything that is not a whole stat line (an empty or cut read).
 */
export function parseProcStat(buffer: Buffer, length = buffer.length): ProcStat | undefined {
  const close = buffer.lastIndexOf(ASCII_CLOSE_PAREN, length - 1);
  if (close < 0 || buffer[close + 1] !== ASCII_SPACE) return undefined;
  const stateAt = close + 2;
  if (stateAt + 1 >= length || buffer[stateAt + 1] !== ASCII_SPACE) return undefined;
  let parentPid = 0;
  let userTicks = 0;
  let systemTicks = 0;
  let childrenUserTicks = 0;
  let childrenSystemTicks = 0;
  let position = stateAt + 2;
  for (let field = PARENT_PID; field <= RSS; field++) {
    // Some fields between may be negative (a kernel thread's pgrp, priority, nice): skip the sign.
    const start = buffer[position] === ASCII_MINUS ? position + 1 : position;
    const parsed = readDecimalField(buffer, start, length);
    if (parsed === undefined) return undefined;
    if (field < RSS && buffer[parsed.end] !== ASCII_SPACE) return undefined;
    position = parsed.end + 1;
    switch (field) {
      case PARENT_PID:
        parentPid = parsed.value;
        break;
      case USER_TIME:
        userTicks = parsed.value;
        break;
      case SYSTEM_TIME:
        systemTicks = parsed.value;
        break;
      case CHILDREN_USER_TIME:
        childrenUserTicks = parsed.value;
        break;
      case CHILDREN_SYSTEM_TIME:
        childrenSystemTicks = parsed.value;
        break;
      case RSS:
        return {
          state: String.fromCharCode(buffer[stateAt] as number),
          parentPid,
          userTicks,
          systemTicks,
          childrenUserTicks,
          childrenSystemTicks,
          rssPages: parsed.value,
        };
    }
  }
  return undefined;
}
