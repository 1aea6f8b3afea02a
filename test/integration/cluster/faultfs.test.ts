/**
 * The fault filesystem (tools/faultfs) mounted for real (FUSE, /dev/fuse, as root): a process writes
 * through it as through any directory; what it fsynced survives a power cut, what it did not is lost
 * whole, torn, or page by page; disk faults (EIO, ENOSPC, slow and stalled fsync) reach the writer
 * as errors and delays, and heal; bad control requests are refused; unmounting leaves no mount and
 * no process.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeSync, copyFileSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FaultFs, faultFsSupport, isMounted } from '../../../cluster/faultfs.js';
import { isAlive } from '../../../cluster/proc.js';
import { repoRoot } from '../helpers.js';

const support = faultFsSupport(repoRoot);

describe('the fault filesystem', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'zabkit-faultfs-'));
  const mounted: FaultFs[] = [];
  let counter = 0;
  const mount = async (): Promise<FaultFs> => {
    const k = counter++;
    const fs = await FaultFs.mount(support.ok ? support.binary : 'faultfs', path.join(root, `backing${k}`), path.join(root, `mnt${k}`), path.join(root, `faultfs${k}.log`));
    mounted.push(fs);
    return fs;
  };
  afterEach(async () => {
    for (const fs of mounted.splice(0)) await fs.unmount();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is available on this machine (CI installs it; without it power cuts fall back to kill -9)', () => {
    expect(support).toMatchObject({ ok: true });
  });

  it('keeps what was fsynced through a power cut and loses the rest', async () => {
    const fs = await mount();
    const file = path.join(fs.mountpoint, 'log');
    const fd = openSync(file, 'a');
    writeSync(fd, 'synced\n');
    fsyncSync(fd);
    writeSync(fd, 'not synced\n');
    // Until the cut, readers see every write, like a page cache.
    expect(readFileSync(file, 'utf8')).toBe('synced\nnot synced\n');
    expect(statSync(file).size).toBe(18);
    expect(readFileSync(path.join(fs.backing, 'log'), 'utf8')).toBe('synced\n');
    closeSync(fd);
    expect(await fs.status()).toMatchObject({ dirtyFiles: 1, dirtyBytes: 11 });
    const cut = await fs.powerCut('lose', 1);
    expect(cut).toMatchObject({ mode: 'lose', lostBytes: 11, keptBytes: 0 });
    expect(readFileSync(file, 'utf8')).toBe('synced\n');
    expect(statSync(file).size).toBe(7);
  });

  it("a file's unsynced writes show in its modification time, as a page cache's do", async () => {
    const fs = await mount();
    const file = path.join(fs.mountpoint, 'stamped');
    const fd = openSync(file, 'w');
    fsyncSync(fd);
    const created = statSync(file).mtimeMs;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = Date.now();
    writeSync(fd, 'header');
    // Not synced: the backing file is still the empty one from its creation, yet a reader sees the write's time.
    expect(statSync(path.join(fs.backing, 'stamped')).mtimeMs).toBe(created);
    expect(statSync(file).mtimeMs).toBeGreaterThanOrEqual(before - 1);
    expect(statSync(file).ctimeMs).toBeGreaterThanOrEqual(before - 1);
    closeSync(fd);
  });

  it('a copy of a file with unsynced writes holds them (the kernel copies through the cache), and is unsynced itself', async () => {
    const fs = await mount();
    const source = path.join(fs.mountpoint, 'source');
    const fd = openSync(source, 'w');
    writeSync(fd, 'synced;');
    fsyncSync(fd);
    writeSync(fd, 'cached');
    closeSync(fd);
    copyFileSync(source, path.join(fs.mountpoint, 'copy'));
    expect(readFileSync(path.join(fs.mountpoint, 'copy'), 'utf8')).toBe('synced;cached');
    await fs.powerCut('lose', 1);
    expect(readFileSync(source, 'utf8')).toBe('synced;');
    expect(readFileSync(path.join(fs.mountpoint, 'copy'), 'utf8')).toBe('');
  });

  it('a torn cut keeps a proper prefix of the unsynced writes; a reordered one whole pages of them, holes between', async () => {
    const fs = await mount();
    const file = path.join(fs.mountpoint, 'torn');
    const fd = openSync(file, 'w');
    const unsynced = Buffer.alloc(3 * 4096);
    for (let k = 0; k < unsynced.length; k++) unsynced[k] = 65 + (Math.floor(k / 4096) % 26);
    writeSync(fd, unsynced);
    closeSync(fd);
    const torn = await fs.powerCut('torn', 7);
    const after = readFileSync(file);
    expect(after.length).toBe(torn.keptBytes);
    expect(after.length).toBeLessThan(unsynced.length);
    expect(unsynced.subarray(0, after.length).equals(after)).toBe(true);

    let sawHole = false;
    for (let seed = 1; seed <= 8 && !sawHole; seed++) {
      const name = path.join(fs.mountpoint, `reorder${seed}`);
      writeFileSync(name, unsynced);
      await fs.powerCut('reorder', seed);
      const kept = readFileSync(name);
      for (let page = 0; page * 4096 < kept.length; page++) {
        const chunk = kept.subarray(page * 4096, (page + 1) * 4096);
        const hole = chunk.every((b) => b === 0);
        expect(hole || chunk.equals(unsynced.subarray(page * 4096, page * 4096 + chunk.length))).toBe(true);
        if (hole) sawHole = true;
      }
    }
    expect(sawHole).toBe(true);
  });

  it('disk faults reach the writer, and heal', async () => {
    const fs = await mount();
    const file = path.join(fs.mountpoint, 'f');
    const fd = openSync(file, 'w');
    await fs.setFaults({ eio: 'write' });
    expect(() => writeSync(fd, 'x')).toThrow(/EIO/);
    await fs.setFaults({ enospc: true });
    expect(() => writeSync(fd, 'x')).toThrow(/ENOSPC/);
    await fs.setFaults({ eio: 'fsync' });
    writeSync(fd, 'lost to a failed fsync');
    expect(() => fsyncSync(fd)).toThrow(/EIO/);
    await fs.heal();
    // The failed fsync dropped the dirty data (as Linux does): a retried fsync succeeds with nothing.
    fsyncSync(fd);
    expect(readFileSync(path.join(fs.backing, 'f'), 'utf8')).toBe('');
    // The writer's position had moved past the lost bytes: they are a hole now, as on a real disk.
    writeSync(fd, 'after the heal');
    fsyncSync(fd);
    closeSync(fd);
    expect(readFileSync(path.join(fs.backing, 'f'), 'utf8')).toBe('\0'.repeat(22) + 'after the heal');
  });

  it('a stalled fsync waits for the heal; a slow one takes its delay', async () => {
    const fs = await mount();
    const handle = await open(path.join(fs.mountpoint, 'slow'), 'w');
    await handle.write('a');
    await fs.setFaults({ fsyncStall: true });
    let done = false;
    const stalled = handle.sync().then(() => { done = true; });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(done).toBe(false);
    await fs.heal();
    await stalled;
    expect(readFileSync(path.join(fs.backing, 'slow'), 'utf8')).toBe('a');
    await fs.setFaults({ fsyncDelayMs: 400 });
    await handle.write('b');
    const started = Date.now();
    await handle.sync();
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    await handle.close();
  });

  it('refuses bad control requests with the reason', async () => {
    const fs = await mount();
    await expect(fs.powerCut('sideways' as 'lose', 1)).rejects.toThrow(/400 mode must be lose, torn or reorder/);
    await expect(fs.setFaults({ eio: 'sometimes' as 'write' })).rejects.toThrow(/400 eio must be write, fsync or both/);
    await expect(fs.setFaults({ fsyncDelayMs: 10_000_000 })).rejects.toThrow(/400 fsyncDelayMs must be from 0 to 60000/);
    await expect(fs.setFaults({ colour: 'red' } as never)).rejects.toThrow(/400 faults: json: unknown field "colour"/);
  });

  it('unmounting writes back what is cached and leaves no mount and no process', async () => {
    const fs = await mount();
    writeFileSync(path.join(fs.mountpoint, 'kept'), 'cached, never fsynced');
    expect(isMounted(fs.mountpoint)).toBe(true);
    await fs.unmount();
    mounted.splice(mounted.indexOf(fs), 1);
    expect(isMounted(fs.mountpoint)).toBe(false);
    expect(isAlive(fs.pid)).toBe(false);
    expect(readFileSync(path.join(fs.backing, 'kept'), 'utf8')).toBe('cached, never fsynced');
  });
});
