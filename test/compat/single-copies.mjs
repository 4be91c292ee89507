/**
 * Reads `npm ls --all --json` of a consumer project (on stdin) and the log of its `npm install` (argument), and
 * fails when any @opentelemetry package is there in more than one version, or when npm warned about peers.
 */
import { readFileSync } from 'node:fs';

const tree = JSON.parse(readFileSync(0, 'utf8'));
const versions = new Map();
(function walk(dependencies) {
  for (const [name, node] of Object.entries(dependencies ?? {})) {
    if (name.startsWith('@opentelemetry/') && node.version) {
      if (!versions.has(name)) versions.set(name, new Set());
      versions.get(name).add(node.version);
    }
    walk(node.dependencies);
  }
})(tree.dependencies);

const problems = [];
for (const [name, found] of versions) {
  if (found.size > 1) problems.push(`${name} in ${found.size} versions: ${[...found].join(', ')}`);
}
const log = process.argv[2] === undefined ? '' : readFileSync(process.argv[2], 'utf8');
for (const line of log.split('\n')) {
  if (/peer|ERESOLVE|EBADENGINE/i.test(line)) problems.push(`npm install said: ${line.trim()}`);
}
const summary = [...versions].map(
  ([name, found]) => `${name.replace('@opentelemetry/', '')}@${[...found][0]}`,
);
console.log(`  ${versions.size} @opentelemetry packages, one copy each expected: ${summary.join(' ')}`);
for (const problem of problems) console.log(`  FAIL ${problem}`);
process.exitCode = problems.length === 0 ? 0 : 1;
