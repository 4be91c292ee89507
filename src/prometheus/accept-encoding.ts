/**
 * Whether an Accept-Encoding header (RFC 9110 §12.5.3) accepts gzip: `gzip` (or `x-gzip`) with a weight above 0,
 * or `*` above 0 when gzip is not named. `gzip;q=0` refuses it, as does a header that names neither.
 */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  let named: boolean | undefined;
  let wildcard = false;
  for (const part of text.split(',')) {
    const [coding = '', ...parameters] = part.split(';').map((piece) => piece.trim());
    const name = coding.toLowerCase();
    if (name === '') continue;
    const accepted = weight(parameters) > 0;
    if (name === 'gzip' || name === 'x-gzip') named = (named ?? false) || accepted;
    else if (name === '*') wildcard = accepted;
  }
  return named ?? wildcard;
}

/** The `q` parameter's value (1 when absent; 0 when it is not a number, so that a malformed weight never opts in). */
function weight(parameters: readonly string[]): number {
  for (const parameter of parameters) {
    const [key = '', value = ''] = parameter.split('=').map((piece) => piece.trim());
    if (key.toLowerCase() !== 'q') continue;
    const q = Number(value);
    return value !== '' && Number.isFinite(q) ? q : 0;
  }
  return 1;
}
