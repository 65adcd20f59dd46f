// Every row of docs/consistency.md through a real mount (A) while another client changes the
// bucket: the SDK, and a second qsfs mount (B) of the same bucket. A change is looked at through
// A once its window (1 s by default) has passed, with shell tools in child processes; then the
// guarantees that hold at any moment: no torn reads, a file open here keeps its version, several
// writers in one mount share one state, and the last close wins with a warning in the log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CopyObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { TestBucket } from '../helpers/s3.js';
import { TestMount, afterWindow, sleep } from '../helpers/mount.js';
import { sh, shResult } from '../helpers/shell.js';
import { q } from '../helpers/posix.js';
import { startHoldWriter, withTimeout } from '../helpers/child-io.js';
import { dataFor } from '../helpers/random-ops.js';

const MiB = 1024 * 1024;
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');
const S_IFREG = 0o100000;

/** Another client of the bucket: what it can change. */
interface OtherClient {
  name: string;
  write(key: string, body: string): Promise<unknown>;
  remove(key: string): Promise<unknown>;
  chmod(key: string, mode: number): Promise<unknown>;
  /** A directory with one file in it. */
  mkdir(key: string): Promise<unknown>;
  /** A directory and everything in it. */
  removeTree(key: string): Promise<unknown>;
}

describe('what a mount shows of changes by other clients (docs/consistency.md)', () => {
  let bucket: TestBucket;
  let a: TestMount;
  let b: TestMount;

  before(async () => {
    bucket = await TestBucket.create('consistency');
    a = await TestMount.start(bucket.name, 'cons-a');
    b = await TestMount.start(bucket.name, 'cons-b');
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await bucket?.destroy();
  });

  const sdk: OtherClient = {
    name: 'the SDK',
    write: (key, body) => bucket.put(key, body),
    remove: (key) => bucket.client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: key })),
    chmod: async (key, mode) => {
      const h = await bucket.head(key);
      return bucket.client.send(new CopyObjectCommand({
        Bucket: bucket.name, Key: key, CopySource: `${bucket.name}/${key}`, MetadataDirective: 'REPLACE',
        Metadata: { ...h?.Metadata, mode: String(S_IFREG | mode) },
      }));
    },
    mkdir: (key) => bucket.put(`${key}/inside`, 'x'),
    removeTree: async (key) => {
      for (const k of await bucket.keys(`${key}/`)) await bucket.client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: k }));
    },
  };

  const secondMount: OtherClient = {
    name: 'a second qsfs mount',
    write: (key, body) => sh(`printf %s ${q(body)} > ${q(b.p(key))}`),
    remove: (key) => sh(`rm ${q(b.p(key))}`),
    chmod: (key, mode) => sh(`chmod ${mode.toString(8)} ${q(b.p(key))}`),
    mkdir: (key) => sh(`mkdir ${q(b.p(key))} && echo x > ${q(b.p(key, 'inside'))}`),
    removeTree: (key) => sh(`rm -r ${q(b.p(key))}`),
  };

  /** `ls` of a directory in A, one name a line. */
  const lsA = async (dir: string): Promise<string[]> => (await sh(`ls -a ${q(a.p(dir))}`)).split('\n').filter((n) => n && n !== '.' && n !== '..');

  for (const other of [sdk, secondMount]) {
    const slug = other === sdk ? 'sdk' : 'mount';
    describe(`another client: ${other.name}`, () => {
      test('a new object: ls, stat and cat show it once the window has passed', async () => {
        const dir = `${slug}-new`;
        await bucket.put(`${dir}/keep`, 'k');
        await afterWindow();
        assert.deepEqual(await lsA(dir), ['keep']);
        assert.notEqual((await shResult(`stat ${q(a.p(dir, 'fresh'))}`)).code, 0, 'not there yet');
        await other.write(`${dir}/fresh`, 'fresh content');
        await afterWindow();
        assert.deepEqual(await lsA(dir), ['fresh', 'keep']);
        assert.equal(await sh(`stat -c %s ${q(a.p(dir, 'fresh'))}`), '13\n');
        assert.equal(await sh(`cat ${q(a.p(dir, 'fresh'))}`), 'fresh content');
      });

      test('an overwrite: stat has the new size and cat prints the new content whole, never cut at the old length', async () => {
        const dir = `${slug}-over`;
        await bucket.put(`${dir}/c`, 'old-content!');
        await afterWindow();
        assert.equal(await sh(`cat ${q(a.p(dir, 'c'))}`), 'old-content!');
        assert.equal(await sh(`stat -c %s ${q(a.p(dir, 'c'))}`), '12\n');
        await other.write(`${dir}/c`, 'new-content-that-is-longer');
        await afterWindow();
        assert.equal(await sh(`stat -c %s ${q(a.p(dir, 'c'))}`), '26\n');
        assert.equal(await sh(`cat ${q(a.p(dir, 'c'))}`), 'new-content-that-is-longer');
      });

      test('a delete: ls no longer shows it, stat and cat say ENOENT, once the window has passed', async () => {
        const dir = `${slug}-del`;
        await bucket.put(`${dir}/gone`, 'soon gone');
        await bucket.put(`${dir}/stays`, 's');
        await afterWindow();
        assert.equal(await sh(`cat ${q(a.p(dir, 'gone'))}`), 'soon gone');
        await other.remove(`${dir}/gone`);
        await afterWindow();
        assert.deepEqual(await lsA(dir), ['stays']);
        assert.match((await shResult(`stat ${q(a.p(dir, 'gone'))}`)).stderr, /No such file or directory/);
        assert.match((await shResult(`cat ${q(a.p(dir, 'gone'))}`)).stderr, /No such file or directory/);
      });

      test('a metadata-only change (chmod, a copy of the object onto itself): stat shows it once the window has passed', async () => {
        const dir = `${slug}-meta`;
        await bucket.put(`${dir}/m`, 'same bytes', { Metadata: { mode: String(S_IFREG | 0o644) } });
        await afterWindow();
        assert.equal(await sh(`stat -c %a ${q(a.p(dir, 'm'))}`), '644\n');
        await other.chmod(`${dir}/m`, 0o600);
        await afterWindow();
        assert.equal(await sh(`stat -c %a ${q(a.p(dir, 'm'))}`), '600\n');
        assert.equal(await sh(`cat ${q(a.p(dir, 'm'))}`), 'same bytes');
      });

      test('a new directory: ls and stat show it, and what is in it, once the window has passed', async () => {
        const dir = `${slug}-mkdir`;
        await bucket.put(`${dir}/anchor`, 'a');
        await afterWindow();
        assert.deepEqual(await lsA(dir), ['anchor']);
        assert.notEqual((await shResult(`stat ${q(a.p(dir, 'sub'))}`)).code, 0);
        await other.mkdir(`${dir}/sub`);
        await afterWindow();
        assert.deepEqual(await lsA(dir), ['anchor', 'sub']);
        assert.equal(await sh(`stat -c %F ${q(a.p(dir, 'sub'))}`), 'directory\n');
        assert.deepEqual(await lsA(`${dir}/sub`), ['inside']);
      });

      test('a removed directory: gone from ls and stat once the window has passed', async () => {
        const dir = `${slug}-rmdir`;
        await bucket.put(`${dir}/old/a`, 'a');
        await bucket.put(`${dir}/old/b`, 'b');
        await bucket.put(`${dir}/anchor`, 'x');
        await afterWindow();
        assert.deepEqual(await lsA(dir), ['anchor', 'old']);
        assert.deepEqual(await lsA(`${dir}/old`), ['a', 'b']);
        await other.removeTree(`${dir}/old`);
        await afterWindow();
        assert.deepEqual(await lsA(dir), ['anchor']);
        assert.match((await shResult(`stat ${q(a.p(dir, 'old'))}`)).stderr, /No such file or directory/);
      });
    });
  }

  test('ls -l within the window sends no request; after it, one LIST and a HEAD only for the names new or changed', async () => {
    // A mount of its own with a 3 s window, so that "within the window" holds on a slow machine;
    // its requests are read from the status report (SIGUSR1).
    const names = Array.from({ length: 40 }, (_, i) => `f${String(i).padStart(2, '0')}`);
    await Promise.all(names.map((n) => bucket.put(`lsl/${n}`, `content of ${n}`)));
    await sleep(1100); // a HEAD in the second of an object's write cannot vouch for it later
    const m = await TestMount.start(bucket.name, 'cons-lsl', ['--metadata-ttl=3']);
    try {
      const requests = async (): Promise<Record<string, number>> => {
        const ops = /requests: .*\((.*)\)/.exec(await m.status())?.[1] ?? '';
        return Object.fromEntries(ops.split(', ').filter(Boolean).map((o) => { const [op, n] = o.split(' '); return [op!, Number(n)]; }));
      };
      const since = (before: Record<string, number>, after: Record<string, number>): Record<string, number> => Object.fromEntries(
        Object.entries(after).map(([op, n]) => [op, n - (before[op] ?? 0)]).filter(([, n]) => (n as number) > 0));
      const lsl = (): Promise<string> => sh(`ls -l --time-style=+%s ${q(m.p('lsl'))}`);
      const first = await lsl();
      const cold = await requests();
      assert.equal(await lsl(), first);
      assert.deepEqual(since(cold, await requests()), {}, 'ls -l again within the window: no request');
      await sleep(3200);
      await bucket.put('lsl/f07', 'new content of f07, longer');
      await bucket.put('lsl/f40', 'a new file');
      const before = await requests();
      const after = await lsl();
      const cost = since(before, await requests());
      assert.ok(after.includes(' f40') && / 26 \d+ f07/.test(after), after);
      // HEADs of f07 and f40, and of the directory's marker for the kernel's look at lsl itself
      // (a directory's attributes are its marker's: a listing of its parent cannot vouch for them).
      assert.equal(cost['HeadObject'], 3, `HEADs of f07, f40 and lsl/ only: ${JSON.stringify(cost)}`);
      // The LIST of lsl/, and one of the root for the kernel's look at lsl itself.
      assert.ok((cost['ListObjectsV2'] ?? 0) >= 1 && (cost['ListObjectsV2'] ?? 0) <= 2, JSON.stringify(cost));
      assert.deepEqual(Object.keys(cost).sort(), ['HeadObject', 'ListObjectsV2'], JSON.stringify(cost));
    } finally {
      await m.stop();
    }
  });

  test('no torn reads: cat right after another client replaces a file prints one version whole, or fails', async (t) => {
    let latest = 'the first version';
    const versions = new Set([latest]);
    await bucket.put('torn/f', latest);
    await afterWindow();
    let fails = 0;
    for (let i = 0; i < 20; i++) {
      // Some rounds within the window of the last look, some past it.
      await sleep([0, 600, 1200][i % 3]!);
      // Lengths that grow and shrink, so that a size kept from another version would show. Within
      // the window the mount may show any recent version; whichever it shows, it shows whole.
      latest = `v${i}:${'x'.repeat(i % 2 === 0 ? 40 + i * 97 : 7 + i)}.`;
      versions.add(latest);
      await bucket.put('torn/f', latest);
      const r = await shResult(`cat ${q(a.p('torn/f'))}`);
      if (r.code === 0) assert.ok(versions.has(r.stdout), `round ${i}: ${JSON.stringify(r.stdout.slice(0, 80))} (${r.stdout.length} bytes) is no version of the file`);
      else fails++;
    }
    t.diagnostic(`${fails} of 20 cats failed cleanly (ESTALE) instead of printing the version they opened`);
    await afterWindow();
    assert.equal(await sh(`cat ${q(a.p('torn/f'))}`), latest);
  });

  test('a longer attr_timeout and entry_timeout: cat of a file replaced by another client still prints the new version whole', async () => {
    // The kernel keeps names and attributes 5 s here, the mount's window is 1 s: after the window
    // an open (with no lookup before it) finds the new version, and the size the kernel kept from
    // before must not clamp its reads.
    const m = await TestMount.start(bucket.name, 'cons-attr', ['-o', 'attr_timeout=5,entry_timeout=5']);
    try {
      const small = 'short';
      const large = `the new version, much longer than the first: ${'y'.repeat(5000)}.`;
      await bucket.put('attr/f', small);
      await afterWindow();
      assert.equal(await sh(`stat -c %s ${q(m.p('attr/f'))}`), `${small.length}\n`);
      await bucket.put('attr/f', large);
      await afterWindow();
      assert.equal(await sh(`cat ${q(m.p('attr/f'))}`), large, 'read by the old size');
      assert.equal(await sh(`stat -c %s ${q(m.p('attr/f'))}`), `${large.length}\n`, 'after an open, stat shows the open version');
      await bucket.put('attr/f', small);
      await afterWindow();
      assert.equal(await sh(`cat ${q(m.p('attr/f'))}`), small);
    } finally {
      await m.stop();
    }
  });

  test('a file open here while another client replaces it: its reader gets its own version, or ESTALE, never the new bytes', async (t) => {
    const old = randomBytes(32 * MiB); // more than the read-ahead (20 MiB): the rest is fetched after the change
    await bucket.put('open/big', old);
    await afterWindow();
    const script = [
      'import errno, hashlib, os, sys',
      'fd = os.open(sys.argv[1], os.O_RDONLY)',
      'got = os.read(fd, 262144)',
      "print('ready', flush=True)",
      'sys.stdin.readline()',
      'err = "none"',
      'try:',
      '    while True:',
      '        chunk = os.read(fd, 1048576)',
      '        if not chunk: break',
      '        got += chunk',
      'except OSError as e:',
      '    err = errno.errorcode.get(e.errno, str(e.errno))',
      'print(len(got), hashlib.md5(got).hexdigest(), err, flush=True)',
    ].join('\n');
    const child = spawn('python3', ['-c', script, a.p('open/big')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
    try {
      await withTimeout((async () => { while (!out.includes('ready')) await sleep(20); })(), 30_000, 'the reader');
      await bucket.put('open/big', randomBytes(33 * MiB));
      child.stdin.end('go\n');
      assert.equal(await withTimeout(exited, 60_000, 'the reader'), 0);
    } finally {
      child.kill();
    }
    const [length, hash, err] = out.split('\n')[1]!.split(' ');
    const n = Number(length);
    t.diagnostic(`the reader read ${n} of ${old.length} bytes, then: ${err}`);
    assert.equal(hash, md5(old.subarray(0, n)), `the ${n} bytes read are the old version's`);
    if (err === 'none') assert.equal(n, old.length);
    else assert.equal(err, 'ESTALE');
  });

  describe('several writers of one file in this mount', () => {
    let local: string;
    before(async () => {
      local = await fsp.mkdtemp(path.join(os.tmpdir(), 'qsfs-writers-'));
      await sh(`mkdir ${q(a.p('writers'))}`);
    });
    after(async () => { await fsp.rm(local, { recursive: true, force: true }); });

    /** Runs `count` copies of a command at once (with $i set); fails unless every one exits 0. */
    const together = (count: number, command: string): Promise<string> => withTimeout(sh(`
      pids=(); for i in $(seq 0 ${count - 1}); do (${command}) & pids+=($!); done
      rc=0; for p in "\${pids[@]}"; do wait "$p" || rc=1; done; exit $rc`), 120_000, command);

    /**
     * Ten python3 writers in lock step, so that what must happen at once does: all open the file
     * within a millisecond, all write, then all close together. `open` and `write` are python
     * statements (with `path`, `i` and `ref`, the reference file's bytes, at hand).
     */
    async function lockStep(file: string, refFile: string, open: string, write: string): Promise<void> {
      const flags = await fsp.mkdtemp(path.join(local, 'flags-'));
      const script = [
        'import os, sys, time',
        'path, flags, i, ref = sys.argv[1], sys.argv[2], int(sys.argv[3]), open(sys.argv[4], "rb").read()',
        'def wait(name):',
        '    end = time.time() + 60',
        '    while not os.path.exists(os.path.join(flags, name)):',
        '        if time.time() > end: sys.exit("no " + name)',
        '        time.sleep(0.001)',
        'def done(name): open(os.path.join(flags, "%s-%d" % (name, i)), "w").close()',
        'done("ready"); wait("open")',
        open,
        'done("opened"); wait("write")',
        write,
        'done("written"); wait("close")',
        'os.close(fd)',
      ].join('\n');
      const until = async (name: string): Promise<void> => {
        while ((await fsp.readdir(flags)).filter((n) => n.startsWith(`${name}-`)).length < 10) await sleep(5);
      };
      const writers = together(10, `python3 -c ${q(script)} ${q(file)} ${q(flags)} $i ${q(refFile)}`);
      writers.catch(() => undefined);
      await withTimeout(Promise.race([until('ready'), writers]), 60_000, 'the writers to start');
      await fsp.writeFile(path.join(flags, 'open'), '');
      await withTimeout(Promise.race([until('opened'), writers]), 60_000, 'the opens');
      await fsp.writeFile(path.join(flags, 'write'), '');
      await withTimeout(Promise.race([until('written'), writers]), 60_000, 'the writes');
      await fsp.writeFile(path.join(flags, 'close'), '');
      await writers; // every close returned 0
    }

    test('ten processes writing disjoint ranges of one file with dd conv=notrunc at once: every dd exits 0, the object is byte-identical', async () => {
      const ref = path.join(local, 'dd-ref');
      await fsp.writeFile(ref, dataFor(5, 10 * MiB));
      await together(10, `dd if=${q(ref)} of=${q(a.p('writers/dd'))} bs=${MiB} skip=$i seek=$i count=1 conv=notrunc status=none`);
      assert.equal(md5(await bucket.get('writers/dd')), md5(await fsp.readFile(ref)));
    });

    for (const [name, block, existing] of [['1 MiB ranges of a new file', MiB, false], ['unaligned 100,000-byte ranges of an existing file', 100_000, true]] as const) {
      test(`ten processes opening one file at once and writing disjoint ${name}: every close returns 0, the object is byte-identical`, async () => {
        for (let round = 0; round < 3; round++) {
          // An existing file: written by the SDK in a directory of its own, looked at by A only
          // once the window has passed.
          const key = existing ? `writers-sdk/${block}-${round}` : `writers/${block}-${round}`;
          const ref = path.join(local, `ref-${block}-${round}`);
          await fsp.writeFile(ref, dataFor(round + block, 10 * block));
          if (existing) {
            await bucket.put(key, Buffer.alloc(10 * block, 7));
            await afterWindow();
          } else {
            await sh(`touch ${q(a.p(key))}`);
          }
          await lockStep(a.p(key), ref, 'fd = os.open(path, os.O_WRONLY)', `os.pwrite(fd, ref[i * ${block}:(i + 1) * ${block}], i * ${block})`);
          assert.equal(md5(await bucket.get(key)), md5(await fsp.readFile(ref)), `round ${round}`);
        }
        assert.ok(!(await a.log()).includes('upload failed'), 'no upload failed');
      });
    }

    test('ten appenders with O_APPEND at once: every record once and intact, the bucket as read back', async () => {
      const file = a.p('writers/appended');
      const ref = path.join(local, 'no-ref');
      await fsp.writeFile(ref, '');
      await sh(`touch ${q(file)}`);
      await lockStep(file, ref, 'fd = os.open(path, os.O_WRONLY | os.O_APPEND)',
        "for j in range(200): os.write(fd, ('w%d-r%04d-' % (i, j)).ljust(99, '.').encode() + b'\\n')");
      const stored = (await bucket.get('writers/appended')).toString();
      assert.equal(stored.length, 10 * 200 * 100);
      const records = stored.split('\n').filter(Boolean);
      const expected = [];
      for (let i = 0; i < 10; i++) for (let j = 0; j < 200; j++) expected.push(`w${i}-r${String(j).padStart(4, '0')}-`.padEnd(99, '.'));
      assert.deepEqual([...records].sort(), expected.sort());
      assert.equal(md5(await sh(`cat ${q(file)}`)), md5(stored));
    });
  });

  test('the last close wins, and the log names both ETags of an object another client changed meanwhile', async () => {
    await bucket.put('lastwins/f', 'the original');
    await afterWindow();
    const opened = (await bucket.head('lastwins/f'))?.ETag?.replace(/"/g, '');
    const writer = startHoldWriter(a.p('lastwins/f'), 100_000, 77);
    try {
      await withTimeout(writer.written, 30_000, 'the writer');
      await bucket.put('lastwins/f', 'written by another client meanwhile');
      const theirs = (await bucket.head('lastwins/f'))?.ETag?.replace(/"/g, '');
      writer.close();
      assert.equal((await withTimeout(writer.exited, 60_000, 'the writer')).code, 0);
      assert.equal(md5(await bucket.get('lastwins/f')), md5(dataFor(77, 100_000)));
      const warning = (await a.log()).split('\n').find((l) => l.includes('"path":"/lastwins/f"') && l.includes('changed on the server'));
      assert.ok(warning, 'a warning in the log');
      const fields = JSON.parse(warning) as Record<string, unknown>;
      assert.equal(fields['level'], 40);
      assert.equal(fields['expectedEtag'], opened);
      assert.equal(fields['foundEtag'], theirs);
    } finally {
      writer.kill();
    }
  });
});
