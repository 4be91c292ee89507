/**
 * What must never reach a terminal or a log line raw, from text this package does not control (a command name, a
 * span name, a variable's value, a GPU name from a driver): control characters (C0, DEL, C1 — escape sequences that
 * move the cursor, rewrite the screen or set the window title), format characters (bidi overrides such as U+202E),
 * line and paragraph separators, and lone surrogates.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|[\uD800-\uDFFF]/gu;

const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeCharacter(character: string): string {
  const short = SHORT_ESCAPES[character];
  if (short !== undefined) return short;
  const code = character.codePointAt(0) ?? 0;
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` to print: every unprintable character shown escaped (`\x1b` for ESC, `\n`, `\u202e`), the rest as it is. */
export function escapeUnprintable(text: string): string {
  return text.replace(UNPRINTABLE, escapeCharacter);
}

/**
 * `text` to keep as a value (a GPU name exported as a label, put on spans): every unprintable character replaced
 * by U+FFFD, so the value stays the same length and shape and never carries an escape sequence anywhere it goes.
 */
export function replaceUnprintable(text: string): string {
  return text.replace(UNPRINTABLE, '\ufffd');
}
