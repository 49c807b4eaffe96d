import { isAbsolute, resolve } from 'node:path';
import { InvalidInputError, parseSize, type PlainValue } from '@ckpt/core/internal';
import type { TaskContext, TaskPlugin } from '@ckpt/control-flow';
import { copyFile, HASH_ALGORITHMS, loadNetmap, type HashAlgorithm } from '@ckpt/file-transfer';
import { describeTransferEvent, parseRate, retryOptions, type RetrySettings } from './copy.js';

/** A package's `copy` step, as validated. Relative local paths are relative to the package file. */
export interface CopyTaskSpec extends RetrySettings {
  readonly from: string;
  readonly to: string;
  readonly checkpointInterval?: string | number;
  readonly verify?: 'tail' | 'full';
  /** The chain hash (`xxh3`, the default, or `sha256`), as `ckpt copy --hash`. */
  readonly hash?: HashAlgorithm;
  /** The netmap file (default `$CKPT_NETMAP`), needed when `from` or `to` is `ckpt://NODE/...`. */
  readonly netmap?: string;
  /** This node's name in the netmap (default `$CKPT_NODE`). */
  readonly node?: string;
  readonly compress?: boolean;
}

const FIELDS: Record<keyof CopyTaskSpec, 'string' | 'size' | 'count' | 'boolean' | 'verify' | 'hash'> = {
  from: 'string',
  to: 'string',
  checkpointInterval: 'size',
  verify: 'verify',
  hash: 'hash',
  netmap: 'string',
  node: 'string',
  compress: 'boolean',
  shortRetries: 'count',
  shortWait: 'size',
  longRetries: 'count',
  longWait: 'size',
};

function validateCopySpec(spec: unknown, path: string): CopyTaskSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new InvalidInputError(`${path}: expected a map like { from: out/data.csv, to: "ckpt://beta/in/data.csv" }`);
  }
  const fields = spec as Record<string, unknown>;
  for (const [key, value] of Object.entries(fields)) {
    const kind = FIELDS[key as keyof CopyTaskSpec];
    if (kind === undefined) throw new InvalidInputError(`${path}.${key}: unknown field; a copy step takes ${Object.keys(FIELDS).join(', ')}`);
    const ok =
      kind === 'string'
        ? typeof value === 'string' && value.length > 0
        : kind === 'boolean'
          ? typeof value === 'boolean'
          : kind === 'verify'
            ? value === 'tail' || value === 'full'
            : kind === 'hash'
              ? HASH_ALGORITHMS.includes(value as HashAlgorithm)
              : kind === 'count'
                ? Number.isSafeInteger(value) || (typeof value === 'string' && /^\d+$/.test(value))
                : typeof value === 'string' || (typeof value === 'number' && value >= 0);
    if (!ok) {
      const expected = {
        string: 'a non-empty text',
        boolean: 'true or false',
        verify: 'tail or full',
        hash: `one of ${HASH_ALGORITHMS.join(', ')}`,
        count: 'a whole number',
        size: 'a size or duration like 4MiB or 30s',
      }[kind];
      throw new InvalidInputError(`${path}.${key}: ${JSON.stringify(value)} is not ${expected}`);
    }
  }
  for (const required of ['from', 'to'] as const) {
    if (fields[required] === undefined) throw new InvalidInputError(`${path}.${required}: missing; a copy step needs from and to`);
  }
  if (typeof fields['checkpointInterval'] === 'string') parseSize(fields['checkpointInterval'], `${path}.checkpointInterval`);
  return fields as unknown as CopyTaskSpec;
}

const local = (baseDir: string, endpoint: string) => (endpoint.startsWith('ckpt://') || isAbsolute(endpoint) ? endpoint : resolve(baseDir, endpoint));

async function runCopyTask(spec: CopyTaskSpec, context: TaskContext): Promise<PlainValue> {
  const netmapFile = spec.netmap ?? process.env['CKPT_NETMAP'];
  const node = spec.node ?? process.env['CKPT_NODE'];
  const interval = spec.checkpointInterval;
  // The throttle `ckpt copy` honours (docs/file-transfer.md), so a demo or test can stop a copy mid-way.
  const rateText = process.env['CKPT_COPY_RATE_LIMIT'];
  const rateLimit = rateText ? parseRate(rateText, 'CKPT_COPY_RATE_LIMIT') : 0;
  const result = await copyFile({
    source: local(context.baseDir, spec.from),
    destination: local(context.baseDir, spec.to),
    ...(interval !== undefined && {
      checkpointInterval: typeof interval === 'number' ? interval : parseSize(interval, `step ${context.stepId}: checkpointInterval`),
    }),
    ...(spec.verify !== undefined && { verify: spec.verify }),
    ...(spec.hash !== undefined && { hash: spec.hash }),
    retry: retryOptions(spec, (field) => `step ${context.stepId}: ${field}`),
    ...(netmapFile !== undefined && { netmap: loadNetmap(local(context.baseDir, netmapFile)) }),
    ...(node !== undefined && { node }),
    ...(spec.compress && { compress: true }),
    ...(rateLimit > 0 && { rateLimit }),
    signal: context.signal,
    onEvent: (event) => {
      const line = describeTransferEvent(event);
      if (line !== undefined) context.log(line);
    },
  });
  // Recorded with the step's completion: what the transfer cost, and what a resume saved.
  return { bytes: result.bytes, sent: result.sent, resumedFrom: result.resumedFrom, digest: result.digest };
}

/**
 * The file-transfer runner as the control-flow runner's `copy` task: each copy keeps its own
 * receiver-side checkpoint beside the destination, so a package restarted in the middle of a
 * copy resumes the transfer at its last checkpoint, not at byte 0.
 */
export const copyTaskPlugin: TaskPlugin<CopyTaskSpec> = {
  kind: 'copy',
  validate: validateCopySpec,
  run: runCopyTask,
};
