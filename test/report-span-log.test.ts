import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { PrivateSpanLog, SpanLogWriter, spansLeftOut } from '../src/report/span-log.js';
import { scratchDir } from './helpers/fake-gpu.js';

describe('the span log of a run', () => {
  const span = { name: 'n', spanId: 'b', parentSpanId: undefined, startEpochMs: 10, endEpochMs: 11, pid: 7 };

  it('a writer stops at the bound and counts what it did not log; the reader adds the counts up', () => {
    const log = new PrivateSpanLog(scratchDir('span-log-'));
    const first = new SpanLogWriter(log.file, 4096);
    const second = new SpanLogWriter(log.file, 4096);
    for (let i = 0; i < 1000; i++) (i % 2 === 0 ? first : second).write(span);
    first.close();
    second.close();
    const contents = log.read(0, 4096);
    // The bound, a line that started below it, and one count line per writer.
    assert.ok(statSync(log.file).size < 4096 + 3 * 200, `${statSync(log.file).size} bytes`);
    assert.equal(contents.logged + contents.notLogged, 1000);
    assert.ok(contents.logged > 0 && contents.notLogged > 900);
    assert.equal(contents.spans.length, contents.logged);
    assert.deepEqual(contents.spans[0], {
      name: 'n',
      spanId: 'b',
      parentSpanId: undefined,
      startMs: 10,
      endMs: 11,
      pid: 7,
    });
    assert.equal(
      spansLeftOut(contents, 4096),
      `${contents.notLogged} spans not logged past the ${4096 / 1048576} MiB bound of the span log`,
    );
    log.remove();
    assert.equal(existsSync(log.file), false);
  });

  it('says nothing was left out when nothing was', () => {
    const log = new PrivateSpanLog(scratchDir('span-log-'));
    const writer = new SpanLogWriter(log.file);
    for (let i = 0; i < 10; i++) writer.write(span);
    writer.close();
    const contents = log.read(0);
    assert.equal(contents.logged, 10);
    assert.equal(spansLeftOut(contents), undefined);
    log.remove();
  });
});
