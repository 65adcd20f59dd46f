// The S3 server the tests talk to. scripts/test.mjs starts a fresh Ceph RADOS Gateway (or uses
// the one named by QSFS_TEST_ENDPOINT) and exports these variables to the test processes.

export interface TestEndpoint {
  /** e.g. "http://127.0.0.1:7481" (path-style, any region) */
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
}

const NOT_STARTED = 'run the tests through "npm test" (scripts/test.mjs starts the S3 server)';

export function testEndpoint(): TestEndpoint {
  const endpoint = process.env['QSFS_TEST_ENDPOINT'];
  const accessKeyId = process.env['QSFS_TEST_ACCESS_KEY'];
  const secretAccessKey = process.env['QSFS_TEST_SECRET_KEY'];
  if (!endpoint || !accessKeyId || !secretAccessKey) {
    throw new Error(NOT_STARTED);
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`QSFS_TEST_ENDPOINT is not a URL: ${JSON.stringify(endpoint)}; ${NOT_STARTED}`);
  }
  const fromEnv = process.env['QSFS_TEST_PORT'];
  const port = fromEnv
    ? Number(fromEnv)
    : url.port
      ? Number(url.port)
      : url.protocol === 'https:'
        ? 443
        : 80;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`QSFS_TEST_PORT is not a port: ${JSON.stringify(fromEnv)}; ${NOT_STARTED}`);
  }
  return { endpoint: endpoint.replace(/\/+$/, ''), port, accessKeyId, secretAccessKey };
}

/** Whether the server goes away with this test run (scripts/test.mjs started it): a test may
 *  then leave a big fixture in it instead of spending minutes deleting it. */
export function serverIsThrowaway(): boolean {
  return process.env['QSFS_TEST_THROWAWAY_SERVER'] === '1';
}
