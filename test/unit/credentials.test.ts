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
    const c = await loadCredentials(file, {});
    assert.deepEqual(c, { accessKeyId: KEY, secretAccessKey: SECRET, source: file });
  });

  test('a 0400 file is read', async () => {
    const file = await credFile('ro.cred', 0o400);
    const c = await loadCredentials(file, {});
    assert.equal(c.secretAccessKey, SECRET);
  });

  test('an explicit file wins over the environment', async () => {
    const file = await credFile('wins.cred', 0o600);
    const c = await loadCredentials(file, { AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: 'ENVSECRET' });
    assert.equal(c.accessKeyId, KEY);
    assert.equal(c.source, file);
  });

  for (const mode of [0o644, 0o640, 0o604, 0o660]) {
    const octal = mode.toString(8).padStart(4, '0');
    test(`a ${octal} file is refused with "chmod 600"`, async () => {
      const file = await credFile(`open-${octal}.cred`, mode);
      await assert.rejects(
        loadCredentials(file, {}),
        isCredentialsError(new RegExp(`accessible by group or others \\(mode ${octal}\\); run: chmod 600 ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)),
      );
    });
  }

  test('a missing explicit file "does not exist", even with environment credentials', async () => {
    const file = path.join(dir, 'nope.cred');
    await assert.rejects(
      loadCredentials(file, { AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: SECRET }),
      isCredentialsError(/nope\.cred does not exist/),
    );
  });

  test('a directory is "not a regular file"', async () => {
    const sub = path.join(dir, 'a-dir');
    await fsp.mkdir(sub, { mode: 0o700 });
    await assert.rejects(loadCredentials(sub, {}), isCredentialsError(/a-dir is not a regular file/));
  });

  test('a malformed 0600 file is refused without showing the secret', async () => {
    const file = await credFile('bad.cred', 0o600, `${KEY} ${SECRET}\n`);
    await assert.rejects(loadCredentials(file, {}), isCredentialsError(/bad\.cred is malformed/));
  });

  test('an empty 0600 file is refused', async () => {
    const file = await credFile('empty.cred', 0o600, '');
    await assert.rejects(loadCredentials(file, {}), isCredentialsError(/empty\.cred holds no AccessKeyId:SecretKey line/));
  });

  const defaultExists = fs.existsSync(DEFAULT_CREDENTIALS_FILE);

  test('no file given: the environment when the default file is missing', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: SECRET };
    if (!defaultExists) {
      assert.deepEqual(await loadCredentials(undefined, env), { accessKeyId: 'ENVKEY', secretAccessKey: SECRET, source: 'environment' });
    } else {
      // This machine has a default file: it is used (or refused), never the environment.
      let result: { source: string } | undefined;
      try {
        result = await loadCredentials(undefined, env);
      } catch (err) {
        assert.ok(err instanceof CredentialsError);
        assert.ok(err.message.includes(DEFAULT_CREDENTIALS_FILE));
        assert.ok(!err.message.includes(SECRET));
      }
      if (result) assert.equal(result.source, DEFAULT_CREDENTIALS_FILE);
    }
  });

  test('no file given and no environment: the error names AWS_ACCESS_KEY_ID', async () => {
    if (!defaultExists) {
      await assert.rejects(loadCredentials(undefined, {}), isCredentialsError(/AWS_ACCESS_KEY_ID/));
      // only half of the pair is not enough either, and the half that is set is not shown
      await assert.rejects(loadCredentials(undefined, { AWS_ACCESS_KEY_ID: KEY }), isCredentialsError(/AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY/));
      await assert.rejects(loadCredentials(undefined, { AWS_SECRET_ACCESS_KEY: SECRET }), isCredentialsError(/-c FILE/));
      await assert.rejects(loadCredentials(undefined, { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }), isCredentialsError(/AWS_ACCESS_KEY_ID/));
    } else {
      const r = await loadCredentials(undefined, {}).then((c) => c.source, (err: unknown) => (err as Error).message);
      assert.ok(r.includes(DEFAULT_CREDENTIALS_FILE), r);
    }
  });
});
