/** Checks shared by every public entry point, so that each bad value is named the same way. */
import { escapeUnprintable } from './printable.js';
import { TRUNCATION_MARKER, truncateText } from './truncate-text.js';

export function assertPlainOptions(value: unknown, what: string, known: readonly string[]): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${what} must be an object, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TypeError(`${what}: unknown option "${key}" (known: ${known.join(', ')})`);
    }
  }
}

export function assertNonNegativeInteger(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new TypeError(`${name} must be a non-negative integer, got ${describe(value)}`);
  }
}

export function assertNonNegativeNumber(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${name} must be a finite number >= 0, got ${describe(value)}`);
  }
}

/**
 * `fallback` when the option was left out (undefined), the value itself otherwise — null included, so that a null
 * reaches validation and is refused by name instead of silently meaning "default".
 */
export function orDefault<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

/** A boolean option: `fallback` when left out, a TypeError naming `name` for anything but true or false. */
export function booleanOption(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new TypeError(`${name} must be true or false, got ${describe(value)}`);
  return value;
}

/** How much of a bad string an error message shows. */
export const SHOWN_CHARACTERS = 80;

/**
 * A string as an error message may show it: quoted, at most SHOWN_CHARACTERS of it (then "…" and its length), and
 * every unprintable character escaped (\n, \x1b, \u202e, …) — an error message is one line on a terminal or in a
 * log, and a value may hold a newline, a terminal escape or 128 KB.
 */
export function quoteForMessage(value: string): string {
  const cut = value.length > SHOWN_CHARACTERS;
  // Without the marker: the message says the value was cut, and how long it was.
  const shown = cut ? truncateText(value, SHOWN_CHARACTERS + TRUNCATION_MARKER.length).slice(0, -1) : value;
  const escaped = escapeUnprintable(shown.replace(/["\\]/g, '\\$&'));
  return cut ? `"${escaped}…" (${value.length} characters)` : `"${escaped}"`;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `the string ${quoteForMessage(value)}`;
    case 'number':
    case 'bigint':
    case 'boolean':
      return `${typeof value} ${String(value)}`;
    default:
      return typeof value;
  }
}
