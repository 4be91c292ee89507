/**
 * `text` with every control character (C0, DEL, C1: terminal escape sequences among them) replaced by U+FFFD:
 * GPU names, UUIDs and driver strings come from a library or a program this package does not control, and are
 * printed to terminals and exported as labels.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');
}
