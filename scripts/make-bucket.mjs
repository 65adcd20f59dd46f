#!/usr/bin/env node
// Creates a bucket (if missing) on an S3 endpoint: the demo's set-up step.
//   node scripts/make-bucket.mjs ENDPOINT BUCKET   (keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
await import('../dist/cli/quiet-warnings.js');
const { S3Client, CreateBucketCommand, HeadBucketCommand } = await import('@aws-sdk/client-s3');
const [endpoint, bucket] = process.argv.slice(2);
if (!endpoint || !bucket) {
  process.stderr.write('usage: make-bucket.mjs ENDPOINT BUCKET\n');
  process.exit(2);
}
const client = new S3Client({
  endpoint, region: 'us-east-1', forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
});
try {
  await client.send(new HeadBucketCommand({ Bucket: bucket }));
} catch {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}
client.destroy();
