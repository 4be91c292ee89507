import { diag } from '@opentelemetry/api';
import { truncateText } from '../internal/truncate-text.js';

/** Past this many distinct messages, later ones are not remembered (nor said): a bounded set, whatever comes. */
const MAX_REMEMBERED = 100;
const said = new Set<string>();

/**
 * One diag warning per distinct message for the life of the process: the exposition is written at every scrape,
 * and an attribute or a name it had to change would otherwise be reported every 15 seconds for ever.
 */
export function warnOnce(text: string): void {
  // Messages quote attribute keys and label sets, which can be long: a bounded line.
  const message = truncateText(text, 512);
  if (said.has(message) || said.size >= MAX_REMEMBERED) return;
  said.add(message);
  diag.warn(`otel-resource-tracker: ${message}`);
}
