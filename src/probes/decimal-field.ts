const ASCII_ZERO = 48;
const ASCII_NINE = 57;

/** A run of decimal digits in a /proc buffer and the position just after it. */
export interface DecimalField {
  value: number;
  /** Index of the first byte after the digits. */
  end: number;
}

/**
 * Reads the unsigned decimal number starting at `start` (digits only, up to `length`); undefined when there is no
 * digit there. Parsing bytes in place avoids turning a /proc read into a string on every call.
 */
export function readDecimalField(buffer: Buffer, start: number, length: number): DecimalField | undefined {
  let value = 0;
  let position = start;
  for (; position < length; position++) {
    const byte = buffer[position] as number;
    if (byte < ASCII_ZERO || byte > ASCII_NINE) break;
    value = value * 10 + (byte - ASCII_ZERO);
  }
  return position === start ? undefined : { value, end: position };
}
