/**
 * Text from outside (a command name, an argument, a span name) made safe to print on a terminal: control characters
 * (C0, DEL, C1: escape sequences that could move the cursor, rewrite the screen or set the window title) are shown
 * escaped, `\x1b` for ESC; everything else, other languages included, as it is.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (character) => {
    const code = character.charCodeAt(0);
    if (character === '\n') return '\\n';
    if (character === '\t') return '\\t';
    if (character === '\r') return '\\r';
    return `\\x${code.toString(16).padStart(2, '0')}`;
  });
}
