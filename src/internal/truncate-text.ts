/** What ends a text that was cut short: one character, so that a reader sees the value is not whole. */
export const TRUNCATION_MARKER = '…';

/**
 * `text` when it is at most `maxLength` UTF-16 units long; otherwise its first units and TRUNCATION_MARKER, in
 * `maxLength` units in all, never splitting a surrogate pair. The result is a fresh copy: a slice of a long string
 * would keep the whole original alive for as long as the short one is held (V8's sliced strings).
 */
export function truncateText(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  let end = Math.max(0, maxLength - TRUNCATION_MARKER.length);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // a high surrogate: its low half is past the cut
  return Buffer.from(`${text.slice(0, end)}${TRUNCATION_MARKER}`, 'utf16le').toString('utf16le');
}
