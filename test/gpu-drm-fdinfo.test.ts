import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { DrmClientScanner } from '../src/gpu/drm/drm-clients.js';
import { parseDrmFdinfo, parseDrmSize } from '../src/gpu/drm/fdinfo.js';
import { ProcessTree } from '../src/gpu/process-tree.js';
import { FakeDrmTree, fdinfoText, GiB, KiB, MiB } from './helpers/fake-drm.js';

describe('GPU: DRM fdinfo (kernel Documentation/gpu/drm-usage-stats.rst)', () => {
  it('reads sizes in bytes, KiB, MiB and GiB; anything else is no size', () => {
    assert.equal(parseDrmSize('4096'), 4096);
    assert.equal(parseDrmSize('12 KiB'), 12 * KiB);
    assert.equal(parseDrmSize('3 MiB'), 3 * MiB);
    assert.equal(parseDrmSize('2 GiB'), 2 * GiB);
    for (const bad of ['abc', '12 kB', '-1', '1.5 MiB', '', '12 Ki'])
      assert.equal(parseDrmSize(bad), undefined, bad);
  });

  it('per region: drm-resident, else its alias drm-memory, else drm-total; other keys are not memory', () => {
    const info = parseDrmFdinfo(
      fdinfoText({
        'drm-driver': 'xe',
        'drm-client-id': '42',
        'drm-pdev': '0000:00:02.0',
        'drm-total-vram0': '100 MiB',
        'drm-resident-vram0': '80 MiB',
        'drm-shared-vram0': '10 MiB',
        'drm-active-vram0': '5 MiB',
        'drm-purgeable-vram0': '1 MiB',
        'drm-total-system': '7 MiB',
        'drm-memory-gtt': '3 MiB',
        'drm-engine-rcs': '1000 ns',
        'drm-cycles-rcs': '28257900',
      }),
    );
    assert.equal(info?.driver, 'xe');
    assert.equal(info?.clientId, '42');
    assert.equal(info?.pdev, '0000:00:02.0');
    assert.deepEqual([...(info?.regions ?? [])].sort(), [
      ['gtt', 3 * MiB],
      ['system', 7 * MiB],
      ['vram0', 80 * MiB],
    ]);
    assert.deepEqual(info?.malformed, []);
  });

  it('no drm-driver: not a DRM client (a reused descriptor); a cut or garbled line is reported, not skipped', () => {
    assert.equal(parseDrmFdinfo('pos:\t0\nflags:\t02\n'), undefined);
    const cut = parseDrmFdinfo(
      `${fdinfoText({ 'drm-driver': 'amdgpu', 'drm-memory-vram': '1 KiB' })}drm-memory-gt`,
    );
    assert.deepEqual(cut?.malformed, ['drm-memory-gt']);
    const garbled = parseDrmFdinfo(fdinfoText({ 'drm-driver': 'amdgpu', 'drm-memory-vram': 'abc KiB' }));
    assert.equal(garbled?.malformed.length, 1);
  });

  it("a scan of 500 processes: finds only this tree's clients; cost measured (logged, not asserted)", () => {
    const tree = new FakeDrmTree();
    try {
      tree.addProcess(process.pid, process.ppid);
      tree.addFd(
        process.pid,
        20,
        '/dev/dri/renderD128',
        fdinfoText({
          'drm-driver': 'amdgpu',
          'drm-client-id': '1',
          'drm-pdev': 'p',
          'drm-memory-vram': '1 MiB',
        }),
      );
      // 500 other processes of 10 descriptors each, one in ten holding a GPU client; the first 9 are our children.
      const firstPid = 3_000_000;
      for (let index = 0; index < 500; index++) {
        const pid = firstPid + index;
        tree.addProcess(pid, index < 9 ? process.pid : 1);
        for (let fd = 0; fd < 9; fd++)
          tree.addFd(pid, fd, fd % 2 === 0 ? `socket:[${pid}${fd}]` : '/usr/lib/libc.so.6');
        if (index % 10 === 0)
          tree.addFd(
            pid,
            9,
            '/dev/dri/renderD128',
            fdinfoText({
              'drm-driver': 'amdgpu',
              'drm-client-id': String(100 + index),
              'drm-pdev': 'p',
              'drm-memory-vram': '2 MiB',
            }),
          );
      }
      const scanner = new DrmClientScanner(
        tree.proc,
        new ProcessTree(process.pid, tree.proc),
        () => undefined,
        1000,
      );
      const timed = (now: number) => {
        const started = performance.now();
        const clients = scanner.read(now);
        return { clients, ms: performance.now() - started };
      };
      const start = Date.now();
      const cold = timed(start);
      const between = timed(start + 500);
      const rescan = timed(start + 1000);
      // Ours: this process's client and the first child's (index 0); the other 50 clients are not this tree's.
      assert.deepEqual(
        cold.clients?.map((client) => [client.pid, client.bytes]).sort((a, b) => Number(a[0]) - Number(b[0])),
        [
          [Math.min(process.pid, firstPid), process.pid < firstPid ? MiB : 2 * MiB],
          [Math.max(process.pid, firstPid), process.pid < firstPid ? 2 * MiB : MiB],
        ],
      );
      assert.equal(between.clients?.length, 2);
      assert.equal(rescan.clients?.length, 2);
      console.log(
        `      DRM scan of 501 processes (5 010 descriptors): first ${cold.ms.toFixed(2)} ms, ` +
          `tick between scans ${between.ms.toFixed(3)} ms, rescan ${rescan.ms.toFixed(2)} ms`,
      );
    } finally {
      tree.remove();
    }
  });
});
