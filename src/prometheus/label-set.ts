import type { Attributes, AttributeValue } from '@opentelemetry/api';
import { truncateText } from '../internal/truncate-text.js';
import { sanitizeName } from './metric-name.js';
import { warnOnce } from './warn-once.js';

/**
 * Attributes → Prometheus labels, as the specification's Prometheus compatibility rules give them
 * (specification/compatibility/prometheus_and_openmetrics.md, "Metric Attributes"), so that an exposition is valid
 * whatever the attribute keys: characters outside [a-zA-Z0-9_] become `_` (runs of `_` one), a key that starts with
 * a digit gets `key_` before it (as the Collector's translator does: a label name cannot start with one), and keys
 * that end up with the same label name share it, their values joined with `;` in the lexicographic order of the
 * original keys. A label name the series already has (`le`, `quantile`, the scope labels, the resource's constant
 * labels) is never taken by an attribute: the attribute's becomes `exported_<name>`, as Prometheus itself renames a
 * scraped label that clashes with a target label. Values are cut to MAX_LABEL_VALUE_LENGTH.
 */

/** Label values are written at most this long (UTF-16 units); a longer one ends in `…` at that length. */
export const MAX_LABEL_VALUE_LENGTH = 1024;

/** Labels the exposition gives series itself (a histogram's bucket bound, a summary's quantile). */
export const EXPOSITION_LABELS: readonly string[] = ['le', 'quantile'];

/** What an attribute's label name gets before it when the series already has that label. */
export const EXPORTED_PREFIX = 'exported_';

const NONE: ReadonlySet<string> = new Set();

/** Label names of the keys seen, for the scrapes to come: keys are few, and the same at every scrape. */
const labelNameCache = new Map<string, string>();
const LABEL_NAME_CACHE_SIZE = 1000;

/** The Prometheus label name of an attribute key; '' when no character of it is valid (the key is left out). */
export function labelName(key: string): string {
  const cached = labelNameCache.get(key);
  if (cached !== undefined) return cached;
  const sanitized = sanitizeName(key);
  const first = sanitized.charCodeAt(0);
  const name = first >= 0x30 && first <= 0x39 ? `key_${sanitized}` : sanitized;
  if (labelNameCache.size < LABEL_NAME_CACHE_SIZE && key.length <= 256) labelNameCache.set(key, name);
  return name;
}

interface Label {
  readonly name: string;
  /** [original key, value], more than one when several keys sanitise to this name. */
  readonly values: Array<[string, string]>;
}

/** The body of a label set (`a="1",b="2"`), in the attributes' order; `reserved` names are the series' own. */
export function labelPairs(attributes: Attributes, reserved: ReadonlySet<string> = NONE): string {
  return labelSet(attributes, reserved).body;
}

export interface LabelSet {
  /** `a="1",b="2"`. */
  readonly body: string;
  /**
   * True when the body is the attributes written as they are (every key a label name already, not reserved; every
   * value a string within the bound): two different attribute sets of that kind never give the same body, so that
   * the exposition need not look for a sample written twice.
   */
  readonly exact: boolean;
}

/** labelPairs, and whether its body is exact. */
export function labelSet(attributes: Attributes, reserved: ReadonlySet<string> = NONE): LabelSet {
  // The common case, written straight: every key a valid, distinct, unreserved name.
  let body = '';
  let exact = true;
  const seen: string[] = [];
  for (const key in attributes) {
    const value = attributes[key];
    if (value === undefined) continue;
    const name = labelName(key);
    if (name === '' || reserved.has(name) || seen.includes(name)) {
      return { body: renamedLabelPairs(attributes, reserved), exact: false };
    }
    seen.push(name);
    if (name !== key || typeof value !== 'string' || value.length > MAX_LABEL_VALUE_LENGTH) exact = false;
    body += `${body === '' ? '' : ','}${name}="${escapeLabelValue(truncateText(valueText(value), MAX_LABEL_VALUE_LENGTH))}"`;
  }
  return { body, exact };
}

/** labelPairs where some key is left out, renamed or shares its label with another. */
function renamedLabelPairs(attributes: Attributes, reserved: ReadonlySet<string>): string {
  const labels: Label[] = [];
  for (const key in attributes) {
    const value = attributes[key];
    if (value === undefined) continue;
    let name = labelName(key);
    if (name === '') {
      warnOnce(
        `attribute key ${JSON.stringify(key)} has no character a Prometheus label name allows: left out`,
      );
      continue;
    }
    if (reserved.has(name)) {
      warnOnce(
        `attribute "${key}" would take the series' own label "${name}": written as ${EXPORTED_PREFIX}${name}`,
      );
      name = exportedName(name, reserved);
    }
    const text = valueText(value);
    const same = labels.find((label) => label.name === name);
    if (same === undefined) {
      labels.push({ name, values: [[key, text]] });
      continue;
    }
    same.values.push([key, text]);
    warnOnce(
      `attributes ${same.values.map(([original]) => `"${original}"`).join(' and ')} share the Prometheus label "${name}": their values are joined with ";"`,
    );
  }
  let body = '';
  for (const { name, values } of labels) {
    const value =
      values.length === 1
        ? (values[0]?.[1] ?? '')
        : values
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([, text]) => text)
            .join(';');
    body += `${body === '' ? '' : ','}${name}="${escapeLabelValue(truncateText(value, MAX_LABEL_VALUE_LENGTH))}"`;
  }
  return body;
}

/** The label names a label set body holds (for reserving them on a series). */
export function labelNames(attributes: Attributes, reserved: ReadonlySet<string> = NONE): string[] {
  const names: string[] = [];
  for (const key in attributes) {
    if (attributes[key] === undefined) continue;
    const name = labelName(key);
    if (name === '') continue;
    const written = reserved.has(name) ? exportedName(name, reserved) : name;
    if (!names.includes(written)) names.push(written);
  }
  return names;
}

/** `exported_<name>`, or `exported_exported_<name>` when that too is the series' own (a constant label's). */
function exportedName(name: string, reserved: ReadonlySet<string>): string {
  let exported = `${EXPORTED_PREFIX}${name}`;
  while (reserved.has(exported)) exported = `${EXPORTED_PREFIX}${exported}`;
  return exported;
}

/** Strings as they are, other values as the attribute specification writes them (arrays as JSON). */
function valueText(value: AttributeValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
