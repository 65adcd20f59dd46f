import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CredentialsError, DEFAULT_CREDENTIALS_FILE, loadCredentials, parseCredentials,
} from '../../src/config/credentials.js';

const SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET';
const KEY = 'AKIAQSFSTESTKEY';

/** Asserts `fn` rejects/throws a CredentialsError whose message matches and never shows a secret. */
function isCredentialsError(message: RegExp, secrets: string[] = [SECRET]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof CredentialsError, `expected CredentialsError, got ${String(err)}`);
    assert.match(err.message, message);
    for (const s of secrets) assert.ok(!err.message.includes(s), `message leaks the secret: ${err.message}`);
    assert.equal(err.name, 'CredentialsError');
    return true;
  };
}

describe('parseCredentials', () => {
  test('a plain line', () => {
    assert.deepEqual(parseCredentials(`${KEY}:${SECRET}\n`, 'f'), { accessKeyId: KEY, secretAccessKey: SECRET, source: 'f' });
  });

  test('without a trailing newline', () => {
    assert.deepEqual(parseCredentials(`${KEY}:${SECRET}`, 'f'), { accessKeyId: KEY, secretAccessKey: SECRET, source: 'f' });
  });

  test('comments and blank lines before the key pair are skipped', () => {
    const text = `# qsfs credentials\n\n   \n  # another comment: with:colons\n${KEY}:${SECRET}\n\n`;
    const c = parseCredentials(text, '/etc/x.cred');
    assert.equal(c.accessKeyId, KEY);
    assert.equal(c.secretAccessKey, SECRET);
    assert.equal(c.source, '/etc/x.cred');
  });

  test('CRLF line endings leave no \\r in the secret', () => {
    const c = parseCredentials(`# windows\r\n\r\n${KEY}:${SECRET}\r\n`, 'f');
    assert.equal(c.accessKeyId, KEY);
    assert.equal(c.secretAccessKey, SECRET);
    assert.ok(!c.secretAccessKey.includes('\r'));
  });

  test('surrounding whitespace is trimmed', () => {
    const c = parseCredentials(`   ${KEY} : ${SECRET}   \n`, 'f');
    assert.equal(c.accessKeyId, KEY);
    assert.equal(c.secretAccessKey, SECRET);
  });

  test('the first key pair wins', () => {
    const c = parseCredentials(`${KEY}:${SECRET}\nOTHER:OTHERSECRET\n`, 'f');
    assert.equal(c.accessKeyId, KEY);
    assert.equal(c.secretAccessKey, SECRET);
  });

  test('a colon inside the secret is kept (split at the first colon)', () => {
    const c = parseCredentials(`${KEY}:abc:def\n`, 'f');
    assert.equal(c.accessKeyId, KEY);
    assert.equal(c.secretAccessKey, 'abc:def');
  });

  test('empty text or only comments', () => {
    assert.throws(() => parseCredentials('', 'empty.cred'), isCredentialsError(/empty\.cred holds no AccessKeyId:SecretKey line/));
    assert.throws(() => parseCredentials('# only\n\n  \r\n', 'c.cred'), isCredentialsError(/holds no AccessKeyId:SecretKey/));
  });

  const malformed: Array<[string, string, string[]]> = [
    ['no colon', `${KEY}${SECRET}\n`, [SECRET]],
    ['empty key', `:${SECRET}\n`, [SECRET]],
    ['empty secret', `${KEY}:\n`, []],
    ['whitespace-only secret', `${KEY}:    \n`, []],
    ['whitespace inside the secret', `${KEY}:${SECRET} tail\n`, [SECRET, 'tail']],
    ['whitespace inside the key', `AKIA QSFS:${SECRET}\n`, [SECRET]],
    ['tab inside the secret', `${KEY}:abc\t${SECRET}\n`, [SECRET]],
  ];
  for (const [what, text, secrets] of malformed) {
    test(`malformed: ${what}`, () => {
      assert.throws(
        () => parseCredentials(text, '/some/file.cred'),
        isCredentialsError(/\/some\/file\.cred is malformed: expected one line AccessKeyId:SecretKey/, secrets),
      );
    });
  }
});

describe('loadCredentials', () => {
  let dir: string;

  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'qsfs-cred-test-'));
  });
  after(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  async function credFile(name: string, mode: number, text = `${KEY}:${SECRET}\n`): Promise<string> {
    const file = path.join(dir, name);
    await fsp.writeFile(file, text);
    await fsp.chmod(file, mode); // explicit: the umask does not decide the test
    return file;
  }

  test('a 0600 file is read', async () => {
    const file = await credFile('ok.cred', 0o600, `# comment\r\n${KEY}:${SECRET}\r\n`);
    const c = await (await loadCredentials(file)).current();
    assert.deepEqual(c, { accessKeyId: KEY, secretAccessKey: SECRET, source: file });
  });

  test('a 0400 file is read', async () => {
    const file = await credFile('ro.cred', 0o400);
    const c = await (await loadCredentials(file)).current();
    assert.equal(c.secretAccessKey, SECRET);
  });

  test('an explicit file wins over the environment', async () => {
    const file = await credFile('wins.cred', 0o600);
    const c = await withEnv({ AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: 'ENVSECRET' }, async () => (await loadCredentials(file)).current());
    assert.equal(c.accessKeyId, KEY);
    assert.equal(c.source, file);
  });

  for (const mode of [0o644, 0o640, 0o604, 0o660]) {
    const octal = mode.toString(8).padStart(4, '0');
    test(`a ${octal} file is refused with "chmod 600"`, async () => {
      const file = await credFile(`open-${octal}.cred`, mode);
      await assert.rejects(
        loadCredentials(file),
        isCredentialsError(new RegExp(`accessible by group or others \\(mode ${octal}\\); run: chmod 600 ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)),
      );
    });
  }

  test('a missing explicit file "does not exist", even with environment credentials', async () => {
    const file = path.join(dir, 'nope.cred');
    await assert.rejects(
      withEnv({ AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: SECRET }, () => loadCredentials(file)),
      isCredentialsError(/nope\.cred does not exist/),
    );
  });

  test('a directory is "not a regular file"', async () => {
    const sub = path.join(dir, 'a-dir');
    await fsp.mkdir(sub, { mode: 0o700 });
    await assert.rejects(loadCredentials(sub), isCredentialsError(/a-dir is not a regular file/));
  });

  test('a malformed 0600 file is refused without showing the secret', async () => {
    const file = await credFile('bad.cred', 0o600, `${KEY} ${SECRET}\n`);
    await assert.rejects(loadCredentials(file), isCredentialsError(/bad\.cred is malformed/));
  });

  test('an empty 0600 file is refused', async () => {
    const file = await credFile('empty.cred', 0o600, '');
    await assert.rejects(loadCredentials(file), isCredentialsError(/empty\.cred holds no AccessKeyId:SecretKey line/));
  });

  const defaultExists = fs.existsSync(DEFAULT_CREDENTIALS_FILE);

  test('no file given: the AWS default chain, which reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, when the default file is missing', async () => {
    const env = { ...NO_AWS_FILES, AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: SECRET };
    if (!defaultExists) {
      const c = await withEnv(env, async () => (await loadCredentials(undefined)).current());
      assert.deepEqual({ ...c, source: undefined }, { accessKeyId: 'ENVKEY', secretAccessKey: SECRET, sessionToken: undefined, expiration: undefined, source: undefined });
      assert.equal(c.source, 'the AWS default credential chain');
    } else {
      // This machine has a default file: it is used (or refused), never the environment.
      let result: { source: string } | undefined;
      try {
        result = await withEnv(env, () => loadCredentials(undefined));
      } catch (err) {
        assert.ok(err instanceof CredentialsError);
        assert.ok(err.message.includes(DEFAULT_CREDENTIALS_FILE));
        assert.ok(!err.message.includes(SECRET));
      }
      if (result) assert.equal(result.source, DEFAULT_CREDENTIALS_FILE);
    }
  });

  test('no file given and nothing for the chain: one line naming the ways, no secret', async () => {
    if (defaultExists) return;
    for (const extra of [{}, { AWS_ACCESS_KEY_ID: KEY }, { AWS_SECRET_ACCESS_KEY: SECRET }]) {
      const err = await withEnv({ ...NO_AWS_FILES, ...extra }, () => loadCredentials(undefined)).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof CredentialsError, String(err));
      assert.match(err.message, /^no credentials: \/etc\/qsfs\.cred does not exist and the AWS default chain found none \(.*\); use -c FILE, AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY, or --profile NAME$/);
      assert.ok(!err.message.includes(SECRET));
    }
  });

  test('--profile: a profile of a shared credentials file; a profile that is not there is named', async () => {
    const file = path.join(dir, 'shared-credentials');
    await fsp.writeFile(file, `[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = x\n\n[qsfs-test]\naws_access_key_id = ${KEY}\naws_secret_access_key = ${SECRET}\n`);
    const env = { ...NO_AWS_FILES, AWS_SHARED_CREDENTIALS_FILE: file };
    const source = await withEnv(env, () => loadCredentials(undefined, 'qsfs-test'));
    assert.equal((await source.current()).accessKeyId, KEY);
    assert.equal(source.source, 'the AWS default credential chain (profile qsfs-test)');
    assert.match(source.describe(), new RegExp(`access key ${KEY}`));
    assert.doesNotMatch(source.describe(), new RegExp(SECRET));
    const err = await withEnv(env, () => loadCredentials(undefined, 'nope')).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof CredentialsError);
    assert.match(err.message, /profile nope/);
    await assert.rejects(loadCredentials('/etc/qsfs.cred', 'qsfs-test'), isCredentialsError(/either -c FILE .* or --profile NAME/));
  });

  test('credential_process: keys from a program; expiring keys are fetched again before they expire', async () => {
    // The program counts its runs and gives keys that expire 4 s later: they are renewed halfway.
    const counter = path.join(dir, 'runs');
    const program = path.join(dir, 'give-keys.sh');
    await fsp.writeFile(program, `#!/bin/sh
n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${counter}
exp=$(date -u -d '+5 seconds' +%Y-%m-%dT%H:%M:%SZ)
printf '{"Version":1,"AccessKeyId":"KEY%s","SecretAccessKey":"${SECRET}","SessionToken":"token%s","Expiration":"%s"}' $n $n $exp
`, { mode: 0o700 });
    const config = path.join(dir, 'config');
    await fsp.writeFile(config, `[profile proc]\ncredential_process = ${program}\n`);
    const env = { ...NO_AWS_FILES, AWS_CONFIG_FILE: config };
    await withEnv(env, async () => {
      const source = await loadCredentials(undefined, 'proc');
      const first = source.current();
      assert.ok(!(first instanceof Promise), 'good keys are at hand, no promise');
      assert.equal(first.accessKeyId, 'KEY1');
      assert.equal(first.sessionToken, 'token1');
      assert.ok(first.expiration && first.expiration.getTime() > Date.now() + 3000);
      await new Promise((r) => setTimeout(r, 2600));
      const again = await source.current();
      assert.equal(again.accessKeyId, 'KEY2', 'fetched again halfway to the expiration');
      assert.match(source.describe(), /access key KEY2, expires .*, renewed 1 time\(s\)/);
      assert.equal((await fsp.readFile(counter, 'utf8')).trim(), '2');
    });
  });
});

/** Environment for the AWS chain that finds nothing by itself: no files, no instance metadata. */
const NO_AWS_FILES: Record<string, string | undefined> = {
  AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined,
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_CONFIG_FILE: '/nonexistent/config',
  AWS_EC2_METADATA_DISABLED: 'true', AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined, AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
  AWS_WEB_IDENTITY_TOKEN_FILE: undefined, AWS_ROLE_ARN: undefined,
};

/** Runs `fn` with these variables in process.env (undefined: unset), as the SDK's chain reads it. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = new Map(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
