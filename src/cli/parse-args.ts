// Command-line parsing for `qsfs BUCKET[:/prefix] MOUNTPOINT [options]`.
//
// Three steps, each driven by OPTION_TABLE:
//   1. normaliseArgv rewrites the qsfs-specific spellings commander does not know
//      (`-c=/p`, `--foreground`, qsfs options inside `-o` lists) into plain `--long value`
//      tokens, and notes -h/-V so they win wherever they appear;
//   2. commander (built from the table, never printing or exiting) rejects unknown options
//      and collects the raw strings, last occurrence winning;
//   3. convertValue checks and converts each raw string into its Options field.

import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { Options } from '../config/options.js';
import {
  OPTION_TABLE,
  canonicalFlag,
  findByLong,
  findByShort,
  formatDefault,
  isSetting,
  optionLabel,
  type OptionSpec,
} from './option-table.js';

/** A bad command line; `message` is one user-facing line (the caller prints `qsfs: <message>`). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type ParseResult =
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string }
  | { kind: 'options'; options: Options };

const USAGE = 'qsfs BUCKET[:/prefix] MOUNTPOINT [options]';

const HELP_FOOTER = `
FUSE mount options are given with -o opt[,opt...], e.g. -o allow_other,nonempty (see the FUSE
documentation). qsfs options may be mixed in, as in /etc/fstab:
  -o allow_other,-z=pek3a,-c=/etc/qsfs.cred

Example:
  qsfs mybucket:/photos /mnt/photos -c=/etc/qsfs.cred -z=pek3a -o allow_other

A running mount:
  qsfs --status MOUNTPOINT     print its status report (open files, uploads, cache, requests)
  fusermount -u MOUNTPOINT     unmount (umount -l MOUNTPOINT when it is busy: detached at once,
                               the daemon exits once the last open file is closed)
`;

export function parseArgs(argv: string[], version: string): ParseResult {
  const { program, settingOptions } = buildProgram(version);
  const scan = normaliseArgv(argv);
  // Help and version win over anything else on the line, including errors.
  if (scan.help) return { kind: 'help', text: program.helpInformation() + HELP_FOOTER };
  if (scan.version) return { kind: 'version', text: `qsfs ${version}` };
  if (scan.error) throw scan.error;

  // Positionals go after `--` so commander never mistakes one for an option.
  try {
    program.parse([...scan.optionTokens, '--', ...scan.positionals], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new UsageError(oneLine(err.message));
    throw err;
  }

  const positionals = parsePositionals(program.args);
  // The table holds exactly one row per remaining Options field (checked by the unit tests).
  const options = { ...positionals, ...collectSettings(program, settingOptions) } as Options;
  if (options.statexpire !== undefined && options.metadatattl !== undefined) {
    throw new UsageError('options -e/--statexpire and --metadata-ttl both set how long metadata is trusted: give one of them');
  }
  if (options.sse !== undefined && options.sseCKey !== undefined) {
    throw new UsageError('options --sse and --sse-c-key both choose the server-side encryption: give one of them');
  }
  if (options.sseKmsKeyId !== undefined && options.sse !== 'aws:kms') {
    throw new UsageError('option --sse-kms-key-id names the key of SSE-KMS: it needs --sse aws:kms');
  }
  return { kind: 'options', options };
}

/**
 * Split `-o` lists / fstab option strings into qsfs options (as argv tokens) and FUSE options
 * (unchanged). Throws UsageError when a qsfs option is missing its value or has a stray one.
 */
export function splitMountOptions(items: string[]): { qsfs: string[]; fuse: string[] } {
  const qsfs: string[] = [];
  const fuse: string[] = [];
  for (const item of items.flatMap((list) => list.split(','))) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = eq === -1 ? item : item.slice(0, eq);
    const value = eq === -1 ? undefined : item.slice(eq + 1);
    const spec = mountOptionSpec(name);
    if (!spec) {
      fuse.push(item);
    } else if (spec.type === 'bool') {
      if (value !== undefined) throw noValueError(spec);
      qsfs.push(canonicalFlag(spec));
    } else {
      if (value === undefined) throw missingValueError(spec);
      qsfs.push(canonicalFlag(spec), value);
    }
  }
  return { qsfs, fuse };
}

/**
 * The qsfs setting a mount-option name refers to: `-z`, `--zone` or bare `zone`.
 * Bare single letters are not accepted (too easy to collide with FUSE words), and
 * -o/-h/-V are not settings, so those names fall through to FUSE.
 */
function mountOptionSpec(name: string): OptionSpec | undefined {
  let spec: OptionSpec | undefined;
  if (/^-[^-]$/.test(name)) spec = findByShort(name.slice(1));
  else if (name.startsWith('--')) spec = findByLong(name.slice(2));
  else if (!name.startsWith('-')) spec = findByLong(name);
  return spec && isSetting(spec) && spec.type !== 'list' ? spec : undefined;
}

// ---------------------------------------------------------------------------------------
// Step 1: argv normalisation

interface Scan {
  optionTokens: string[];
  positionals: string[];
  help: boolean;
  version: boolean;
  /** First problem found; thrown only if neither help nor version was asked for. */
  error?: UsageError;
}

function normaliseArgv(argv: readonly string[]): Scan {
  const scan: Scan = { optionTokens: [], positionals: [], help: false, version: false };
  const fail = (error: UsageError): void => {
    scan.error ??= error;
  };

  // Record one recognised option; `value` is undefined for bool options.
  const emit = (spec: OptionSpec, value?: string): void => {
    if (spec.key === 'help') scan.help = true;
    else if (spec.key === 'version') scan.version = true;
    else if (spec.type === 'list' && value !== undefined) {
      // qsfs options inside -o are expanded in place, so "last wins" follows their position.
      try {
        const { qsfs, fuse } = splitMountOptions([value]);
        const inner = normaliseArgv(qsfs);
        scan.optionTokens.push(...inner.optionTokens);
        if (inner.error) fail(inner.error);
        if (fuse.length > 0) scan.optionTokens.push(canonicalFlag(spec), fuse.join(','));
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        fail(err);
      }
    } else scan.optionTokens.push(canonicalFlag(spec), ...(value === undefined ? [] : [value]));
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      scan.positionals.push(...argv.slice(i + 1));
      break;
    }

    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const spec = findByLong(eq === -1 ? arg.slice(2) : arg.slice(2, eq));
      const inline = eq === -1 ? undefined : arg.slice(eq + 1);
      if (!spec) {
        scan.optionTokens.push(arg); // commander reports it, with a "did you mean"
      } else if (spec.type === 'bool') {
        if (inline !== undefined) fail(noValueError(spec));
        else emit(spec);
      } else if (inline !== undefined) {
        emit(spec, inline);
      } else if (i + 1 < argv.length && takesAsValue(argv[i + 1] as string)) {
        emit(spec, argv[++i]);
      } else {
        fail(missingValueError(spec, argv[i + 1]));
      }
      continue;
    }

    if (arg.startsWith('-') && arg.length > 1) {
      // A cluster of short options (`-fd`, `-fc/p`); a value-taking letter ends it, its value
      // being the rest of the token (`-c/p`, `-c=/p`, the qsfs style) or the next argument.
      let rest = arg.slice(1);
      while (rest !== '') {
        const spec = findByShort(rest.charAt(0));
        if (!spec) {
          scan.optionTokens.push(`-${rest}`); // commander reports the unknown letter
          break;
        }
        rest = rest.slice(1);
        if (spec.type === 'bool') {
          if (rest.startsWith('=')) {
            fail(noValueError(spec));
            break;
          }
          emit(spec);
          continue;
        }
        if (rest !== '') emit(spec, rest.startsWith('=') ? rest.slice(1) : rest);
        else if (i + 1 < argv.length && takesAsValue(argv[i + 1] as string)) emit(spec, argv[++i]);
        else fail(missingValueError(spec, argv[i + 1]));
        break;
      }
      continue;
    }

    scan.positionals.push(arg);
  }
  return scan;
}

function noValueError(spec: OptionSpec): UsageError {
  return new UsageError(`option ${optionLabel(spec)} does not take a value`);
}

/**
 * Whether the argument after a value-taking option is its value. One that looks like an option
 * (`-z -c=/etc/cred`: the zone forgotten) is not: taken as the zone, it would leave the mount
 * without its credentials and the error far from the cause. A negative number is a value.
 */
function takesAsValue(next: string): boolean {
  return !/^-[A-Za-z-]/.test(next);
}

function missingValueError(spec: OptionSpec, next?: string): UsageError {
  const example = spec.short ? `-${spec.short}=VALUE` : `--${spec.long}=VALUE`;
  return next === undefined
    ? new UsageError(`option ${optionLabel(spec)}: missing value`)
    : new UsageError(`option ${optionLabel(spec)}: missing value ('${next}' is an option, not a value; write ${example})`);
}

// ---------------------------------------------------------------------------------------
// Step 2: commander, built from the table

/**
 * A fresh commander program (it keeps parsed values, so one per parse), and the commander
 * option of each settings row, to read values back by attribute name.
 */
function buildProgram(version: string): { program: Command; settingOptions: Map<OptionSpec, Option> } {
  const program = new Command('qsfs')
    .usage(USAGE.replace(/^qsfs /, ''))
    .description('Mount an S3 bucket (or a prefix of it) as a local directory with FUSE.')
    .allowExcessArguments(true) // positional count is checked here, with a clearer message
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} })
    .configureHelp({ helpWidth: 100 });

  const settingOptions = new Map<OptionSpec, Option>();
  for (const spec of OPTION_TABLE) {
    program.optionsGroup(spec.group);
    const flags = [spec.short && `-${spec.short}`, spec.long && `--${spec.long}`].filter(Boolean).join(', ');
    if (spec.key === 'help') {
      program.helpOption(flags, spec.help);
    } else if (spec.key === 'version') {
      program.version(`qsfs ${version}`, flags, spec.help);
    } else {
      const option = new Option(spec.type === 'bool' ? flags : `${flags} <${spec.metavar ?? spec.type}>`, describe(spec));
      // Collect every -o; all other options keep commander's default of last-one-wins.
      if (spec.type === 'list') option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
      program.addOption(option);
      settingOptions.set(spec, option);
    }
  }
  return { program, settingOptions };
}

function describe(spec: OptionSpec): string {
  const notes: string[] = [];
  const shown = formatDefault(spec);
  if (shown !== undefined) notes.push(`default: ${shown}`);
  if (spec.aliases) notes.push(`alias: ${spec.aliases.map((name) => `--${name}`).join(', ')}`);
  return notes.length > 0 ? `${spec.help} (${notes.join('; ')})` : spec.help;
}

/** Commander messages start with "error: " and may add a suggestion on a second line. */
function oneLine(message: string): string {
  return message.replace(/^error:\s*/, '').replace(/\s*\n\s*/g, ' ').trim();
}

// ---------------------------------------------------------------------------------------
// Step 3: positionals and value conversion

function parsePositionals(args: readonly string[]): { bucket: string; prefix: string; mountpoint: string } {
  if (args.length === 0) throw new UsageError(`missing bucket and mountpoint (usage: ${USAGE})`);
  if (args.length === 1) throw new UsageError(`missing mountpoint (usage: ${USAGE})`);
  if (args.length > 2) throw new UsageError(`unexpected argument '${args[2]}' (usage: ${USAGE})`);

  const spec = args[0] as string;
  const colon = spec.indexOf(':');
  const bucket = colon === -1 ? spec : spec.slice(0, colon);
  if (bucket === '' || bucket.includes('/')) throw new UsageError(`invalid bucket name '${bucket}'`);
  // `a/b`, `/a/b/` and `/a//b` all mean the key prefix `a/b/`; `/` or nothing means the whole bucket.
  const segments = colon === -1 ? [] : spec.slice(colon + 1).split('/').filter((s) => s !== '');
  const prefix = segments.length === 0 ? '' : segments.join('/') + '/';

  const mountpoint = args[1] as string;
  if (mountpoint === '') throw new UsageError(`missing mountpoint (usage: ${USAGE})`);
  return { bucket, prefix, mountpoint: path.resolve(mountpoint) };
}

type SettingValue = string | number | boolean | string[];

function collectSettings(program: Command, settingOptions: Map<OptionSpec, Option>): Record<string, SettingValue> {
  const raw = program.opts<Record<string, unknown>>();
  const settings: Record<string, SettingValue> = {};
  for (const [spec, option] of settingOptions) {
    const given = raw[option.attributeName()];
    const value = given === undefined ? defaultValue(spec) : convertValue(spec, given);
    if (value !== undefined) settings[spec.key] = value; // e.g. credentials stays absent
  }
  return settings;
}

function defaultValue(spec: OptionSpec): SettingValue | undefined {
  return spec.type === 'list' ? [] : spec.default;
}

function convertValue(spec: OptionSpec, given: unknown): SettingValue {
  if (spec.type === 'bool') return given === true;
  if (spec.type === 'list') {
    return (given as string[]).flatMap((list) => list.split(',')).filter((item) => item !== '');
  }

  const text = String(given);
  const bad = (why: string): UsageError => new UsageError(`option ${optionLabel(spec)}: '${text}' ${why}`);
  switch (spec.type) {
    case 'string':
      // Only options whose default is '' (host) may be set to ''.
      if (text === '' && spec.default !== '') throw bad('must not be empty');
      return text;
    case 'enum': {
      const match = spec.values?.find((v) => v.toLowerCase() === text.toLowerCase());
      if (match === undefined) throw bad(`is not one of ${spec.values?.join(', ')}`);
      return match;
    }
    case 'octal': {
      const digits = /^(?:0o)?([0-7]+)$/i.exec(text);
      if (!digits) throw bad('is not an octal number');
      const value = parseInt(digits[1] as string, 8);
      if (spec.max !== undefined && value > spec.max) throw bad(`is out of range (max 0${spec.max.toString(8)})`);
      return value;
    }
    case 'seconds': {
      if (!/^\d+(\.\d+)?$/.test(text)) throw bad('is not a number of seconds');
      const value = Number(text);
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
        throw bad(`is out of range (${rangeText(spec)})`);
      }
      return value;
    }
    case 'integer': {
      if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw bad('is not an integer');
      const value = Number(text);
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
        throw bad(`is out of range (${rangeText(spec)})`);
      }
      return value;
    }
  }
}

function rangeText(spec: OptionSpec): string {
  if (spec.min !== undefined && spec.max !== undefined) return `${spec.min}..${spec.max}`;
  return spec.min !== undefined ? `min ${spec.min}` : `max ${spec.max}`;
}
