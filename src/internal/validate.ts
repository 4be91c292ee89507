/** Checks shared by every public entry point, so that each bad value is named the same way. */

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

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '"': '\\"', '\\': '\\\\' };

/**
 * A string as an error message may show it: quoted, at most SHOWN_CHARACTERS of it (then "…" and its length), and
 * every control or format character escaped (\n, \u001b, \u202e, …) — an error message is one line on a terminal or
 * in a log, and a value may hold a newline, a terminal escape or 128 KB.
 */
export function quoteForMessage(value: string): string {
  let shown = value.length > SHOWN_CHARACTERS ? value.slice(0, SHOWN_CHARACTERS) : value;
  // Never half a surrogate pair.
  if (shown.length < value.length && /[\uD800-\uDBFF]$/.test(shown)) shown = shown.slice(0, -1);
  const escaped = shown.replace(
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}"\\]|[\uD800-\uDFFF]/gu,
    (character) =>
      ESCAPES[character] ?? `\\u${(character.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
  return shown.length < value.length ? `"${escaped}…" (${value.length} characters)` : `"${escaped}"`;
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
