// The validated settings of one qsfs mount: what the CLI (or the fstab helper) produced.
// Units follow the command line: sizes the user gives in MB/GB stay in MB/GB here and are
// converted where they are used, so a reader can match a field to its option at a glance.
import type { ChecksumAlgorithm } from '../store/object-store.js';

export type LogLevel = 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

export interface Options {
  /** Bucket name (from `BUCKET[:/prefix]`). */
  bucket: string;
  /** Key prefix mounted as the root, without leading slash, with a trailing slash, or '' for the whole bucket. */
  prefix: string;
  /** Absolute path of the mountpoint. */
  mountpoint: string;

  // general options (seed table 1)
  zone: string;                 // -z --zone
  credentials?: string;         // -c --credentials (undefined: default file, else the AWS default chain)
  profile?: string;             // --profile: a profile of the AWS config files (the AWS default chain)
  metrics?: string;             // --metrics [HOST:]PORT: the Prometheus endpoint (off unless given)
  checksum?: ChecksumAlgorithm;  // --checksum: an additional checksum with every PUT and part (S3's x-amz-checksum-*)
  logdir: string;               // -l --logdir
  loglevel: LogLevel;           // -L --loglevel
  filemode: number;             // -F --filemode (permission bits only)
  dirmode: number;              // -D --dirmode (permission bits only)
  umaskmp: number;              // -u --umaskmp
  retries: number;              // -r --retries
  reqtimeout: number;           // -R --reqtimeout (seconds)
  maxcache: number;             // -Z --maxcache (MB): the daemon's memory, file data getting all but
                                //   the process's own share (dataBudgetBytes in cache/memory-budget.ts)
  diskdir: string;              // -k --diskdir
  maxstat: number;              // -t --maxstat (thousands of entries)
  statexpire?: number;          // -e --statexpire (minutes; negative = never expire; absent: --metadata-ttl rules)
  maxlist: number;              // -i --maxlist (0 = unlimited)
  fscap: number;                // -y --fscap (GB)
  numtransfer: number;          // -n --numtransfer
  bufsize: number;              // -b --bufsize (MB)
  prefetchsize: number;         // -j --prefetchsize (MB)
  host: string;                 // -H --host ('' = derived from zone)
  protocol: 'https' | 'http';   // -p --protocol
  port: number;                 // -P --port (0 = default for the protocol)

  // miscellaneous options (seed table 2)
  prefetch: boolean;            // -J --prefetch
  contentMD5: boolean;          // -m --contentMD5
  keeplogdir: boolean;          // -K --keeplogdir
  nodatacache: boolean;         // -C --nodatacache
  foreground: boolean;          // -f --forground (sic, the seed's spelling; --foreground accepted too)
  single: boolean;              // -s --single
  debug: boolean;               // -d --debug
  fusedbg: boolean;             // -g --fusedbg
  curldbg: boolean;             // -U --curldbg

  // qsfs additions (long form only)
  pathstyle: boolean;           // --pathstyle: force path-style addressing
  metadatattl?: number;         // --metadata-ttl: seconds metadata is trusted (absent: -e, else 1 s)
  sse?: 'AES256' | 'aws:kms';   // --sse: server-side encryption with the server's keys (SSE-S3 or SSE-KMS)
  sseKmsKeyId?: string;         // --sse-kms-key-id: the KMS key of --sse aws:kms (absent: the bucket's default)
  sseCKey?: string;             // --sse-c-key FILE: SSE-C, with the 256-bit key in FILE (mode 0600)

  /** FUSE mount options from `-o a,b,c=d` that are not qsfs options, in order. */
  fuseOptions: string[];
}
