// Mounts whose requests go through a proxy named by HTTP_PROXY / HTTPS_PROXY, or around it by
// NO_PROXY: a forward proxy on loopback (test/helpers/forward-proxy.ts) counts what it carries;
// the bucket is checked with the SDK directly, never through the proxy. Nothing leaves loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import { TestMount, afterWindow, endpointArgs, isMountpoint, makeWorkdir, runQsfs, type Workdir } from '../helpers/mount.js';
import { ForwardProxy } from '../helpers/forward-proxy.js';
import { TlsTerminator } from '../helpers/tls-terminator.js';
import { sh } from '../helpers/shell.js';
import { q } from '../helpers/posix.js';
import { testEndpoint } from '../helpers/rgw-env.js';

const PROXY_VARIABLES = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'];

/** This process's environment without any proxy variable, plus `extra`. */
function envWith(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of PROXY_VARIABLES) delete env[name];
  return { ...env, ...extra };
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/**
 * Through the mount: writes a small file and a large one (multipart with -b=5), lists the
 * directory, reads back an object another client put (a GET that no cache can answer); checks
 * each in the bucket directly.
 */
async function roundTrip(m: TestMount, bucket: TestBucket, name: string, bigMiB: number): Promise<void> {
  const local = await fsp.mkdtemp(path.join(m.work.dir, 'local-'));
  const big = randomBytes(bigMiB * 1024 * 1024);
  await fsp.writeFile(path.join(local, 'big.bin'), big);
  await sh(`printf 'hello through the proxy\\n' > ${q(m.p(`${name}.txt`))} && cp ${q(path.join(local, 'big.bin'))} ${q(m.p(`${name}-big.bin`))}`);
  const other = randomBytes(100_000);
  await bucket.put(`${name}-other.bin`, other);
  await afterWindow(); // the mount's listing of the root is older than the other client's object
  const listing = await sh(`ls ${q(m.path)}`);
  for (const file of [`${name}.txt`, `${name}-big.bin`, `${name}-other.bin`]) assert.ok(listing.split('\n').includes(file), `ls shows ${file}: ${listing}`);
  assert.equal((await sh(`md5sum < ${q(m.p(`${name}-other.bin`))}`)).split(' ')[0], md5(other), 'the other client\'s object reads back through the mount');
  assert.equal((await sh(`md5sum < ${q(m.p(`${name}-big.bin`))}`)).split(' ')[0], md5(big), 'the large file reads back');
  assert.equal((await bucket.get(`${name}.txt`)).toString(), 'hello through the proxy\n', 'the small file is in the bucket');
  assert.equal(md5(await bucket.get(`${name}-big.bin`)), md5(big), 'the large file is in the bucket');
}

/** The requests the daemon's status counts as sent. */
function requestsSent(status: string): number {
  const m = /^requests:\s+(\d+) sent/m.exec(status);
  assert.ok(m, `a requests line in the status: ${status}`);
  return Number(m[1]);
}

/** Runs qsfs expecting it to fail: one line on stderr, a non-zero exit, nothing mounted. */
async function expectStartupFailure(args: string[], env: NodeJS.ProcessEnv, work: Workdir, pattern: RegExp, secret: string): Promise<string> {
  const r = await runQsfs(args, { env, timeoutMs: 45_000 });
  assert.notEqual(r.code, 0, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, /^qsfs: /);
  assert.match(lines[0]!, pattern);
  assert.equal(r.stderr.includes(secret), false, `no proxy password in: ${r.stderr}`);
  assert.equal(await isMountpoint(work.mountpoint), false, 'nothing mounted');
  return lines[0]!;
}

describe('proxies', () => {
  let bucket: TestBucket;
  let proxy: ForwardProxy;
  const endpoint = `http://127.0.0.1:${testEndpoint().port}`;

  before(async () => {
    bucket = await TestBucket.create('proxy');
    proxy = new ForwardProxy();
    await proxy.start();
  });
  after(async () => {
    await proxy.stop();
    await bucket.destroy();
  });

  test('HTTP_PROXY: every request of an http endpoint is forwarded, with the endpoint\'s Host and a valid signature', async () => {
    proxy.reset();
    const m = await TestMount.start(bucket.name, 'proxy-http', ['-b=5'], { env: envWith({ HTTP_PROXY: proxy.url() }) });
    try {
      await roundTrip(m, bucket, 'forward', 12);
      const status = await m.status();
      assert.match(status, new RegExp(`^proxy: +requests to ${endpoint} go through the proxy ${proxy.url()}, from HTTP_PROXY`, 'm'));
      // Everything the daemon sent went through the proxy: its own count and the proxy's agree.
      const counted = [...proxy.forwarded.values()].reduce((a, b) => a + b, 0);
      assert.equal(counted, requestsSent(status), `forwarded ${JSON.stringify([...proxy.forwarded])}`);
      for (const method of ['HEAD', 'GET', 'PUT', 'POST']) assert.ok((proxy.forwarded.get(method) ?? 0) > 0, `${method} forwarded: ${JSON.stringify([...proxy.forwarded])}`);
      assert.deepEqual([...proxy.hostHeaders], [`127.0.0.1:${testEndpoint().port}`], 'the Host header names the endpoint, as signed');
      assert.equal(proxy.notAbsolute, 0, 'every request line carried the absolute URI');
      assert.equal(proxy.connects.length, 0, 'no tunnel for plain HTTP');
      assert.match(await m.log(), /go through the proxy http:\/\/127\.0\.0\.1:\d+, from HTTP_PROXY/);
    } finally {
      await m.stop();
    }
  });

  test('HTTP_PROXY, virtual-hosted style (node:http): the request goes to the proxy by name; its 403 is said as maybe the proxy\'s', async () => {
    // The name is never resolved here: the proxy gets it, and refuses it (not loopback).
    proxy.reset();
    const work = await makeWorkdir('proxy-vhost');
    try {
      const host = 's3.qsfs-test.invalid';
      const args = [bucket.name, work.mountpoint, `-c=${work.credentials}`, '-z=us-east-1', `-H=${host}`, `-P=${testEndpoint().port}`, '-p=http', '-r=0', `-l=${work.logdir}`, `-k=${work.diskdir}`];
      await expectStartupFailure(args, envWith({ HTTP_PROXY: proxy.url() }), work,
        new RegExp(`access denied to bucket '${bucket.name}' at http://${host.replace(/\./g, '\\.')}:\\d+: .*; or the proxy http://127\\.0\\.0\\.1:${proxy.port} refused \\(its 403 looks like the server's\\)`), 'none');
      assert.deepEqual(proxy.refusedTargets, [`http://${bucket.name}.${host}:${testEndpoint().port}/`], 'the absolute URI names the bucket\'s host');
    } finally {
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  for (const noProxy of ['127.0.0.1', '127.0.0.0/8', 'localhost,127.0.0.1:' + testEndpoint().port]) {
    test(`NO_PROXY=${noProxy}: the proxy carries nothing`, async () => {
      proxy.reset();
      const m = await TestMount.start(bucket.name, 'proxy-none', [], { env: envWith({ HTTP_PROXY: proxy.url(), HTTPS_PROXY: proxy.url(), NO_PROXY: noProxy }) });
      try {
        await roundTrip(m, bucket, `direct-${noProxy.replace(/[^0-9a-z]/g, '-')}`, 1);
        assert.equal(proxy.carried, 0, `the proxy carried ${JSON.stringify([...proxy.forwarded])} and ${proxy.connects.length} tunnel(s)`);
        assert.ok(requestsSent(await m.status()) > 0);
        assert.match(await m.log(), /go directly: NO_PROXY matches it/);
      } finally {
        await m.stop();
      }
    });
  }

  describe('https endpoint', () => {
    let terminator: TlsTerminator;
    let httpsArgs: string[];

    before(async () => {
      terminator = await TlsTerminator.create();
      const port = await terminator.start(testEndpoint().port);
      httpsArgs = ['-z=us-east-1', '-H=127.0.0.1', `-P=${port}`, '-p=https'];
    });
    after(async () => {
      await terminator.stop();
    });

    test('HTTPS_PROXY: a CONNECT tunnel to the endpoint, TLS inside it, sockets kept alive', async () => {
      proxy.reset();
      terminator.accepted = 0;
      const env = envWith({ HTTPS_PROXY: proxy.url(), HTTP_PROXY: 'http://127.0.0.1:9', NODE_EXTRA_CA_CERTS: terminator.certFile });
      const m = await TestMount.start(bucket.name, 'proxy-https', ['-b=5'], { env, endpoint: httpsArgs });
      try {
        await roundTrip(m, bucket, 'tunnel', 11);
        const sent = requestsSent(await m.status());
        assert.ok(proxy.connects.length > 0, 'tunnels opened');
        assert.deepEqual(new Set(proxy.connects), new Set([`127.0.0.1:${terminator.port}`]), 'every CONNECT named the endpoint');
        assert.equal(terminator.accepted, proxy.connects.length, 'every TLS connection came through a tunnel');
        assert.ok(proxy.connects.length < sent, `keep-alive: ${proxy.connects.length} tunnels for ${sent} requests`);
        assert.equal(proxy.forwarded.size, 0, 'nothing forwarded in the clear');
      } finally {
        await m.stop();
      }
    });

    test('the AWS chain\'s STS request (web identity) goes through HTTPS_PROXY too', async () => {
      // A stand-in for STS on loopback, https with the terminator's certificate: it answers
      // AssumeRoleWithWebIdentity with the test server's keys (no session token, which RGW would
      // not know).
      const stsCalls: string[] = [];
      const sts = https.createServer({ key: await fsp.readFile(terminator.keyFile), cert: await fsp.readFile(terminator.certFile) }, (req, res) => {
        let body = '';
        req.setEncoding('utf8').on('data', (d: string) => { body += d; });
        req.on('end', () => {
          stsCalls.push(body);
          const e = testEndpoint();
          res.writeHead(200, { 'content-type': 'text/xml' }).end(
            '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>'
            + `<Credentials><AccessKeyId>${e.accessKeyId}</AccessKeyId><SecretAccessKey>${e.secretAccessKey}</SecretAccessKey>`
            + '<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>'
            + '<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/qsfs-test/proxy</Arn><AssumedRoleId>AROA:proxy</AssumedRoleId></AssumedRoleUser>'
            + '</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>');
        });
      });
      await new Promise<void>((resolve) => sts.listen(0, '127.0.0.1', resolve));
      const stsPort = (sts.address() as net.AddressInfo).port;
      const tokenDir = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-token-'));
      await fsp.writeFile(path.join(tokenDir, 'token'), 'a-web-identity-token');
      proxy.reset();
      const env = envWith({
        HTTPS_PROXY: proxy.url(), NODE_EXTRA_CA_CERTS: terminator.certFile,
        AWS_WEB_IDENTITY_TOKEN_FILE: path.join(tokenDir, 'token'), AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/qsfs-test',
        AWS_ROLE_SESSION_NAME: 'proxy', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_STS: `https://127.0.0.1:${stsPort}`,
        AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      });
      for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[name];
      let m: TestMount | undefined;
      try {
        m = await TestMount.start(bucket.name, 'proxy-sts', [], { env, awsChain: true });
        assert.equal(stsCalls.length, 1, 'STS asked once');
        assert.match(stsCalls[0]!, /Action=AssumeRoleWithWebIdentity/);
        assert.deepEqual(proxy.connects, [`127.0.0.1:${stsPort}`], 'the STS request went through a CONNECT tunnel');
        assert.equal(proxy.forwarded.size, 0, 'the http S3 endpoint is not HTTPS_PROXY\'s business');
        await sh(`printf 'keys from STS\\n' > ${q(m.p('sts.txt'))}`);
        assert.equal((await bucket.get('sts.txt')).toString(), 'keys from STS\n');
        assert.match(await m.status(), /^keys: +the AWS default credential chain, access key TESTKEY/m);
      } finally {
        await m?.stop();
        await new Promise((resolve) => sts.close(resolve));
        await fsp.rm(tokenDir, { recursive: true, force: true });
      }
    });

    test('HTTPS_PROXY that accepts but never answers CONNECT: a clear line, no hang', async () => {
      const sockets = new Set<net.Socket>();
      const silent = net.createServer((socket) => { sockets.add(socket); socket.on('error', () => undefined); });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as net.AddressInfo).port;
      const work = await makeWorkdir('proxy-silent');
      try {
        const args = [bucket.name, work.mountpoint, `-c=${work.credentials}`, ...httpsArgs, '-r=0', `-l=${work.logdir}`, `-k=${work.diskdir}`];
        const started = Date.now();
        await expectStartupFailure(args, envWith({ HTTPS_PROXY: `http://127.0.0.1:${port}`, NODE_EXTRA_CA_CERTS: terminator.certFile }), work,
          new RegExp(`no answer from the S3 endpoint https://127\\.0\\.0\\.1:\\d+ .*\\(through the proxy http://127\\.0\\.0\\.1:${port}\\)$`), 'none');
        assert.ok(Date.now() - started < 20_000, 'given up within the connect and bucket-check timeouts');
        assert.ok(sockets.size > 0, 'the daemon did connect to the proxy');
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => silent.close(resolve));
        await fsp.rm(work.dir, { recursive: true, force: true });
      }
    });

    test('HTTPS_PROXY refusing CONNECT (407): one line naming the proxy and the status, nothing mounted', async () => {
      const guarded = new ForwardProxy({ user: 'qsfs', password: 'Tunnel-S3cret' });
      await guarded.start();
      const work = await makeWorkdir('proxy-https-407');
      try {
        const args = [bucket.name, work.mountpoint, `-c=${work.credentials}`, ...httpsArgs, `-l=${work.logdir}`, `-k=${work.diskdir}`];
        const env = envWith({ HTTPS_PROXY: guarded.url('qsfs', 'wrong-Tunnel-S3cret'), NODE_EXTRA_CA_CERTS: terminator.certFile });
        await expectStartupFailure(args, env, work,
          /the proxy http:\/\/qsfs:\*\*\*@127\.0\.0\.1:\d+ \(from HTTPS_PROXY\) refused the requests to https:\/\/127\.0\.0\.1:\d+ \(HTTP 407 Proxy Authentication Required\): check the user and password in HTTPS_PROXY/,
          'Tunnel-S3cret');
        assert.equal(guarded.refusedAuth, 1, 'a 407 is not retried');
      } finally {
        await guarded.stop();
        await fsp.rm(work.dir, { recursive: true, force: true });
      }
    });
  });

  describe('proxy credentials', () => {
    const PASSWORD = 'Pr0xy-S3cret';
    let guarded: ForwardProxy;

    before(async () => {
      guarded = new ForwardProxy({ user: 'qsfs', password: PASSWORD });
      await guarded.start();
    });
    after(async () => {
      await guarded.stop();
    });

    test('the right user and password: requests carry them, the log and status never show the password', async () => {
      const m = await TestMount.start(bucket.name, 'proxy-auth', ['-d', '-U'], { env: envWith({ http_proxy: guarded.url('qsfs', PASSWORD) }) });
      let log = '';
      try {
        await roundTrip(m, bucket, 'auth', 1);
        assert.equal(guarded.refusedAuth, 0);
        assert.ok((guarded.forwarded.get('PUT') ?? 0) > 0);
        const status = await m.status();
        assert.match(status, /^proxy: .*http:\/\/qsfs:\*\*\*@127\.0\.0\.1:\d+, from http_proxy/m);
        assert.equal(status.includes(PASSWORD), false);
      } finally {
        log = (await m.stop()).log;
      }
      assert.match(log, /http:\/\/qsfs:\*\*\*@127\.0\.0\.1/, 'the log names the proxy');
      for (const secret of [PASSWORD, Buffer.from(`qsfs:${PASSWORD}`).toString('base64')]) {
        assert.equal(log.includes(secret), false, `the log (debug, every request) holds no ${secret}`);
      }
    });

    test('a wrong password: one line naming the proxy and 407, nothing mounted', async () => {
      const work = await makeWorkdir('proxy-auth-wrong');
      try {
        const args = [bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`];
        await expectStartupFailure(args, envWith({ HTTP_PROXY: guarded.url('qsfs', `not-${PASSWORD}`) }), work,
          /the proxy http:\/\/qsfs:\*\*\*@127\.0\.0\.1:\d+ \(from HTTP_PROXY\) refused the requests to http:\/\/127\.0\.0\.1:\d+ \(HTTP 407 Proxy Authentication Required\): check the user and password in HTTP_PROXY/,
          PASSWORD);
      } finally {
        await fsp.rm(work.dir, { recursive: true, force: true });
      }
    });
  });

  describe('startup errors', () => {
    let work: Workdir;
    let args: string[];

    before(async () => {
      work = await makeWorkdir('proxy-startup');
      args = [bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`];
    });
    after(async () => {
      await fsp.rm(work.dir, { recursive: true, force: true });
    });

    test('a malformed proxy URL', async () => {
      await expectStartupFailure(args, envWith({ HTTP_PROXY: 'http://qsfs:Malformed-S3cret@127.0.0.1:99999' }), work,
        /^qsfs: HTTP_PROXY is not a usable proxy URL \(malformed\): http:\/\/\*\*\*@127\.0\.0\.1:99999; expected http:\/\/\[user:password@\]host\[:port\]$/,
        'Malformed-S3cret');
    });

    test('a proxy scheme qsfs does not speak', async () => {
      await expectStartupFailure(args, envWith({ ALL_PROXY: 'socks5://127.0.0.1:1080' }), work, /ALL_PROXY is not a usable proxy URL \(qsfs speaks to http:\/\/ proxies only, not socks5:\/\/\)/, 'none');
    });

    test('nothing listens at the proxy: named, not the endpoint', async () => {
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as net.AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      await expectStartupFailure([...args, '-r=0'], envWith({ HTTP_PROXY: `http://127.0.0.1:${port}` }), work,
        new RegExp(`cannot connect to the proxy http://127\\.0\\.0\\.1:${port} \\(from HTTP_PROXY\\) \\(ECONNREFUSED\\): check HTTP_PROXY, or name 127\\.0\\.0\\.1 in NO_PROXY`), 'none');
    });
  });
});
