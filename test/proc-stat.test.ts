import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseProcStat } from '../src/probes/proc-stat.js';

/** A stat line as the kernel writes it (52 fields), with the given name and the fields the package reads. */
function statLine(
  name: string,
  fields: {
    state: string;
    ppid: number;
    utime: number;
    stime: number;
    cutime: number;
    cstime: number;
    rss: number;
  },
): string {
  const after = [fields.state, fields.ppid, -1, -1, 0, -1, 4194560, 100, 0, 0, 0];
  after.push(
    fields.utime,
    fields.stime,
    fields.cutime,
    fields.cstime,
    20,
    0,
    1,
    0,
    12345,
    987654321,
    fields.rss,
  );
  while (after.length < 50) after.push(0);
  return `4242 (${name}) ${after.join(' ')}\n`;
}

describe('/proc/<pid>/stat parser', () => {
  const fields = { state: 'S', ppid: 17, utime: 250, stime: 40, cutime: 7, cstime: 3, rss: 1234 };

  it('reads the fields after the name, whatever the name holds: spaces, parentheses, ") "', () => {
    for (const name of ['node', 'a b', 'x) S 99 (y', ')', '((', 'name) (', '']) {
      const parsed = parseProcStat(Buffer.from(statLine(name, fields), 'latin1'));
      assert.deepEqual(
        parsed,
        {
          state: 'S',
          parentPid: 17,
          userTicks: 250,
          systemTicks: 40,
          childrenUserTicks: 7,
          childrenSystemTicks: 3,
          rssPages: 1234,
        },
        `name ${JSON.stringify(name)}`,
      );
    }
  });

  it('reads only the length it is given (a reused buffer holds an older, longer line after it)', () => {
    const longer = Buffer.from(
      statLine('a much longer name than the other one', { ...fields, rss: 99999 }),
      'latin1',
    );
    const line = Buffer.from(statLine('short', fields), 'latin1');
    line.copy(longer);
    assert.equal(parseProcStat(longer, line.length)?.rssPages, 1234);
  });

  it('gives undefined, not a wrong number, for a cut or empty read', () => {
    const line = statLine('node', fields);
    assert.equal(parseProcStat(Buffer.alloc(0)), undefined);
    assert.equal(parseProcStat(Buffer.from('4242 (node', 'latin1')), undefined);
    assert.equal(parseProcStat(Buffer.from(line.slice(0, line.indexOf(' 1234 ')), 'latin1')), undefined);
    assert.equal(parseProcStat(Buffer.from('4242 (node) S x 1 2', 'latin1')), undefined);
  });

  it('agrees with the kernel on this process: its parent, its RSS within what statm says', () => {
    const parsed = parseProcStat(readFileSync('/proc/self/stat'));
    assert.equal(parsed?.parentPid, process.ppid);
    assert.equal(parsed?.state, 'R');
    const statmPages = Number(readFileSync('/proc/self/statm', 'latin1').split(' ')[1]);
    assert.ok(
      Math.abs((parsed?.rssPages ?? 0) - statmPages) < 2048,
      `${parsed?.rssPages} vs statm ${statmPages}`,
    );
  });
});
