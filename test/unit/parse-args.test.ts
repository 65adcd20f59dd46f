import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Options } from '../../src/config/options.js';
import { OPTION_TABLE } from '../../src/cli/option-table.js';
import { parseArgs, splitMountOptions, UsageError } from '../../src/cli/parse-args.js';

const VERSION = '9.8.7';

/** Parse a command line that must yield options; fails the test otherwise. */
function options(...argv: string[]): Options {
  const result = parseArgs(argv, VERSION);
  assert.equal(result.kind, 'options');
  return (result as { kind: 'options'; options: Options }).options;
}

/** Assert that parsing throws a UsageError whose message matches `message`. */
function rejects(argv: string[], message: RegExp): void {
  assert.throws(
    () => parseArgs(argv, VERSION),
    (err: unknown) => err instanceof UsageError && message.test(err.message) && !err.message.includes('\n'),
  );
}

test('defaults when only bucket and mountpoint are given', () => {
  assert.deepEqual(options('mybucket', '/mnt/b'), {
    bucket: 'mybucket',
    prefix: '',
    mountpoint: '/mnt/b',
    zone: 'pek3a',
    logdir: '/var/log/qsfs/',
    loglevel: 'INFO',
    filemode: 0o644,
    dirmode: 0o755,
    umaskmp: 0,
    retries: 3,
    reqtimeout: 300,
    maxcache: 200,
    diskdir: '/tmp/qsfs_cache/',
    maxstat: 2,
    maxlist: 0,
    fscap: 1048576,
    numtransfer: 5,
    bufsize: 10,
    prefetchsize: 20,
    host: '',
    protocol: 'https',
    port: 0,
    prefetch: false,
    contentMD5: false,
    keeplogdir: false,
    nodatacache: false,
    foreground: false,
    single: false,
    debug: false,
    fusedbg: false,
    curldbg: false,
    pathstyle: false,
    fuseOptions: [],
  } satisfies Options);
});

test('credentials: -c=/p, -c /p, --credentials=/p, --credentials /p and -c/p', () => {
  for (const argv of [['-c=/p/cred'], ['-c', '/p/cred'], ['--credentials=/p/cred'], ['--credentials', '/p/cred'], ['-c/p/cred']]) {
    assert.equal(options('b', '/m', ...argv).credentials, '/p/cred', argv.join(' '));
  }
});

test('value options also take the -x=VALUE form, even before the positionals', () => {
  const o = options('-z=sh1a', '-n=7', '-L=error', '-p=HTTP', 'b', '/m');
  assert.equal(o.zone, 'sh1a');
  assert.equal(o.numtransfer, 7);
  assert.equal(o.loglevel, 'ERROR');
  assert.equal(o.protocol, 'http');
  assert.equal(o.bucket, 'b');
});

test('octal options accept 0644, 644 and 0o644', () => {
  assert.equal(options('b', '/m', '-F', '0600').filemode, 0o600);
  assert.equal(options('b', '/m', '--filemode=600').filemode, 0o600);
  assert.equal(options('b', '/m', '-D=0o700').dirmode, 0o700);
  assert.equal(options('b', '/m', '-u', '022').umaskmp, 0o22);
});

test('octal options reject non-octal digits and out-of-range values', () => {
  rejects(['b', '/m', '-F', '9x'], /^option -F\/--filemode: '9x' is not an octal number$/);
  rejects(['b', '/m', '-D', '0789'], /--dirmode: '0789' is not an octal number/);
  rejects(['b', '/m', '-F', '-644'], /--filemode: '-644' is not an octal number/);
  rejects(['b', '/m', '-F', '17777'], /--filemode: '17777' is out of range/);
  rejects(['b', '/m', '-u', '1000'], /--umaskmp: '1000' is out of range/);
});

test('integer options reject non-integers', () => {
  rejects(['b', '/m', '-n', 'abc'], /^option -n\/--numtransfer: 'abc' is not an integer$/);
  rejects(['b', '/m', '-r', '1.5'], /--retries: '1.5' is not an integer/);
  rejects(['b', '/m', '--port='], /--port: '' is not an integer/);
});

test('integer options enforce their ranges', () => {
  rejects(['b', '/m', '-n', '0'], /--numtransfer: '0' is out of range/);
  rejects(['b', '/m', '-n', '101'], /--numtransfer: '101' is out of range/);
  rejects(['b', '/m', '-b', '4'], /--bufsize: '4' is out of range/);
  rejects(['b', '/m', '-b', '5121'], /--bufsize: '5121' is out of range/);
  rejects(['b', '/m', '-r', '-1'], /--retries: '-1' is out of range/);
  rejects(['b', '/m', '-R', '0'], /--reqtimeout: '0' is out of range/);
  rejects(['b', '/m', '-P', '65536'], /--port: '65536' is out of range/);
  assert.equal(options('b', '/m', '-b', '5120').bufsize, 5120);
  assert.equal(options('b', '/m', '-P', '65535').port, 65535);
});

test('negative values reach options that allow them (statexpire)', () => {
  assert.equal(options('b', '/m', '-e', '-5').statexpire, -5);
  assert.equal(options('b', '/m', '-e=30').statexpire, 30);
});

test('--metadata-ttl takes seconds with a fraction; -e and --metadata-ttl together are refused', () => {
  assert.equal(options('b', '/m', '--metadata-ttl', '2.5').metadatattl, 2.5);
  assert.equal(options('b', '/m', '--metadata-ttl=0').metadatattl, 0);
  assert.equal(options('b', '/m', '-o', 'allow_other,metadata-ttl=3').metadatattl, 3);
  assert.equal(options('b', '/m').metadatattl, undefined);
  assert.equal(options('b', '/m').statexpire, undefined);
  rejects(['b', '/m', '--metadata-ttl', '-1'], /--metadata-ttl: '-1' is not a number of seconds/);
  rejects(['b', '/m', '--metadata-ttl', 'soon'], /--metadata-ttl: 'soon' is not a number of seconds/);
  rejects(['b', '/m', '-e', '5', '--metadata-ttl', '1'], /-e\/--statexpire and --metadata-ttl both set how long metadata is trusted/);
});

test('enum options reject unknown values', () => {
  rejects(['b', '/m', '-p', 'ftp'], /--protocol: 'ftp' is not one of https, http/);
  rejects(['b', '/m', '-L', 'DEBUG'], /--loglevel: 'DEBUG' is not one of/);
  assert.equal(options('b', '/m', '-L', 'fatal').loglevel, 'FATAL');
});

test('unknown options are rejected by name', () => {
  rejects(['b', '/m', '--bogus'], /^unknown option '--bogus'/);
  rejects(['b', '/m', '-x'], /^unknown option '-x'/);
});

test('bool options refuse a value, value options need one', () => {
  rejects(['b', '/m', '-f=1'], /^option -f\/--forground does not take a value$/);
  rejects(['b', '/m', '--pathstyle=yes'], /^option --pathstyle does not take a value$/);
  rejects(['b', '/m', '-c'], /^option -c\/--credentials: missing value$/);
});

test('missing or extra positional arguments', () => {
  rejects(['mybucket'], /^missing mountpoint \(usage: qsfs BUCKET\[:\/prefix\] MOUNTPOINT \[options\]\)$/);
  rejects([], /^missing bucket and mountpoint/);
  rejects(['b', '/m', 'extra'], /^unexpected argument 'extra'/);
  rejects(['a/b', '/m'], /^invalid bucket name 'a\/b'$/);
  rejects([':/x', '/m'], /^invalid bucket name ''$/);
});

test('bucket:/prefix becomes a key prefix with one trailing slash', () => {
  assert.deepEqual(
    (({ bucket, prefix }) => ({ bucket, prefix }))(options('mybucket:/a/b', '/m')),
    { bucket: 'mybucket', prefix: 'a/b/' },
  );
  assert.equal(options('mybucket:/a//b/', '/m').prefix, 'a/b/');
  assert.equal(options('mybucket:/', '/m').prefix, '');
  assert.equal(options('mybucket:', '/m').prefix, '');
});

test('mountpoint is resolved to an absolute path', () => {
  assert.equal(options('b', 'mnt/here').mountpoint, path.resolve('mnt/here'));
});

test('-o splits FUSE options from qsfs options given in -o form', () => {
  const o = options('b', '/m', '-o', 'allow_other,uid=1000,-z=pek3a,zone=x');
  assert.deepEqual(o.fuseOptions, ['allow_other', 'uid=1000']);
  assert.equal(o.zone, 'x'); // zone=x comes after -z=pek3a: last wins
});

test('-oa,b, -o=a and repeated -o all accumulate', () => {
  const o = options('b', '/m', '-oallow_other,nonempty', '-o', 'ro', '-o=-m,default_permissions');
  assert.deepEqual(o.fuseOptions, ['allow_other', 'nonempty', 'ro', 'default_permissions']);
  assert.equal(o.contentMD5, true);
});

test('splitMountOptions recognises every qsfs spelling and passes mount words through', () => {
  const { qsfs, fuse } = splitMountOptions([
    '_netdev,-z=pek3a,-c=/etc/qsfs.cred,allow_other',
    'credentials=/c2,--loglevel=WARN,contentMD5,-d,--foreground,uid=0,gid=0,umask=022,ro,rw,nonempty',
    'default_permissions,noauto,user,users,auto,nofail',
  ]);
  assert.deepEqual(qsfs, [
    '--zone', 'pek3a',
    '--credentials', '/etc/qsfs.cred',
    '--credentials', '/c2',
    '--loglevel', 'WARN',
    '--contentMD5',
    '--debug',
    '--forground',
  ]);
  assert.deepEqual(fuse, [
    '_netdev', 'allow_other', 'uid=0', 'gid=0', 'umask=022', 'ro', 'rw', 'nonempty',
    'default_permissions', 'noauto', 'user', 'users', 'auto', 'nofail',
  ]);
});

test('server-side encryption options: long form and -o words, and the pairs refused', () => {
  const kms = options('b', '/m', '--sse', 'AWS:KMS', '--sse-kms-key-id=testkey-1');
  assert.equal(kms.sse, 'aws:kms');
  assert.equal(kms.sseKmsKeyId, 'testkey-1');
  const fstab = options('b', '/m', '-o', 'allow_other,sse=aws:kms,sse-kms-key-id=arn:aws:kms:eu-west-1:1:key/x');
  assert.equal(fstab.sse, 'aws:kms');
  assert.equal(fstab.sseKmsKeyId, 'arn:aws:kms:eu-west-1:1:key/x');
  assert.deepEqual(fstab.fuseOptions, ['allow_other']);
  assert.equal(options('b', '/m', '-o', 'sse-c-key=/etc/qsfs.ssec').sseCKey, '/etc/qsfs.ssec');
  assert.equal(options('b', '/m', '--sse=aes256').sse, 'AES256');
  rejects(['b', '/m', '--sse', 'aws:kms:dsse'], /option --sse: 'aws:kms:dsse' is not one of AES256, aws:kms/);
  rejects(['b', '/m', '--sse', 'AES256', '--sse-c-key', '/k'], /^options --sse and --sse-c-key both choose the server-side encryption: give one of them$/);
  rejects(['b', '/m', '--sse-kms-key-id', 'k'], /^option --sse-kms-key-id names the key of SSE-KMS: it needs --sse aws:kms$/);
  rejects(['b', '/m', '--sse', 'AES256', '--sse-kms-key-id', 'k'], /needs --sse aws:kms/);
});

test('splitMountOptions rejects a qsfs option without its value', () => {
  assert.throws(() => splitMountOptions(['allow_other,-z']), /option -z\/--zone: missing value/);
});

test('options given twice: the last one wins', () => {
  const o = options('b', '/m', '-z', 'a', '--zone=b', '-n', '3', '-n=9', '-c/one', '-c', '/two');
  assert.equal(o.zone, 'b');
  assert.equal(o.numtransfer, 9);
  assert.equal(o.credentials, '/two');
});

test('bool flags: short, long, alias and combined', () => {
  const o = options('b', '/m', '-fdm', '--single', '--pathstyle', '-C');
  assert.deepEqual(
    [o.foreground, o.debug, o.contentMD5, o.single, o.pathstyle, o.nodatacache, o.prefetch],
    [true, true, true, true, true, true, false],
  );
  assert.equal(options('b', '/m', '--foreground').foreground, true);
  assert.equal(options('b', '/m', '--forground').foreground, true);
});

test('-h anywhere returns help, without positionals and despite other errors', () => {
  for (const argv of [['-h'], ['--help'], ['b', '/m', '-n', 'abc', '-h'], ['--bogus', '-h'], ['-fh']]) {
    const result = parseArgs(argv, VERSION);
    assert.equal(result.kind, 'help', argv.join(' '));
  }
});

test('help text lists every option from the table with its default', () => {
  const result = parseArgs(['-h'], VERSION);
  assert.equal(result.kind, 'help');
  const text = (result as { text: string }).text;
  assert.ok(text.startsWith('Usage: qsfs BUCKET[:/prefix] MOUNTPOINT [options]\n'), text.split('\n')[0]);
  for (const spec of OPTION_TABLE) {
    const flags = [spec.short && `-${spec.short}`, spec.long && `--${spec.long}`].filter(Boolean).join(', ');
    assert.ok(text.includes(flags), `help lacks ${flags}`);
  }
  // Commander wraps long descriptions, so compare defaults on the whitespace-collapsed text.
  const flat = text.replace(/\s+/g, ' ');
  // Each pattern ends at the next option's flags, so the default belongs to the right option.
  assert.match(flat, /-F, --filemode <octal> [^)]*\(x-amz-meta-mode\) \(default: 0644\) -D, --dirmode/);
  assert.match(flat, /-z, --zone <zone> [^(]*\(default: pek3a\) -c, --credentials/);
  assert.match(flat, /-u, --umaskmp <octal> [^(]*\(only with -o allow_other\) \(default: 0000\) -r, --retries/);
  assert.match(text, /--foreground/);
  assert.match(text, /-o opt\[,opt\.\.\.\]/);
  assert.match(text, /Example:\n\s+qsfs /);
});

test('every Options field except the positionals has exactly one table row', () => {
  const keys = OPTION_TABLE.map((spec) => spec.key).filter((key) => key !== 'help' && key !== 'version');
  // Options without a default are absent unless given (-e and --metadata-ttl exclude each other).
  const given = {
    ...options('b', '/m', '-c', '/c', '-e', '5', '--sse-c-key', '/k'),
    ...options('b', '/m', '--metadata-ttl', '1', '--profile', 'p', '--metrics', '9464', '--checksum', 'CRC32C', '--sse', 'aws:kms', '--sse-kms-key-id', 'k'),
  };
  const fields = Object.keys(given).filter((k) => !['bucket', 'prefix', 'mountpoint'].includes(k));
  assert.deepEqual([...keys].sort(), [...fields].sort());
  const shorts = OPTION_TABLE.flatMap((spec) => (spec.short ? [spec.short] : []));
  assert.equal(new Set(shorts).size, shorts.length, 'duplicate short letter');
});

test('--checksum takes crc32c or crc64nvme, in any case, also as an -o word; anything else is refused', () => {
  assert.equal(options('b', '/m', '--checksum', 'CRC32C').checksum, 'crc32c');
  assert.equal(options('b', '/m', '-o', 'allow_other,checksum=crc64nvme').checksum, 'crc64nvme');
  assert.equal(options('b', '/m').checksum, undefined);
  assert.throws(() => parseArgs(['b', '/m', '--checksum', 'md5'], VERSION), /--checksum: 'md5' is not one of crc32c, crc64nvme/);
});

test('-V returns the version text', () => {
  assert.deepEqual(parseArgs(['-V'], VERSION), { kind: 'version', text: 'qsfs 9.8.7' });
  assert.deepEqual(parseArgs(['b', '/m', '--version'], VERSION), { kind: 'version', text: 'qsfs 9.8.7' });
});

test('-- ends options, so a mountpoint may start with a dash', () => {
  assert.equal(options('-f', '--', 'b', '-odd').mountpoint, path.resolve('-odd'));
});

test('--metrics takes PORT or HOST:PORT, loopback by default', async () => {
  const { parseListenAddress } = await import('../../src/metrics/prometheus.js');
  assert.deepEqual(parseListenAddress('9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListenAddress(':9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListenAddress('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseListenAddress('[::1]:9464'), { host: '::1', port: 9464 });
  for (const bad of ['', 'x', '99999', 'host:', 'a:b:9']) assert.equal(parseListenAddress(bad), undefined, bad);
});
