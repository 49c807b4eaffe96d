import { formatBytes, formatDuration, parseDuration, InvalidInputError, NodeStorage, type CompanionFiles } from '@ckpt/core/internal';
import { writeJsonLine, type CliIo } from '../output.js';
import { maskStoreUrl, storeUrlOf, withStore } from '../store.js';

/** Companion files per runner kind (partial transfers, ...), registered by the runners the CLI knows. */
export type CompanionRegistry = ReadonlyMap<string, CompanionFiles>;

/** `ckpt prune DIR | --store URL [--older-than DURATION]`: removes expired checkpoints and what goes with them. */
export async function pruneCommand(
  dir: string | undefined,
  options: { olderThan?: string; dryRun?: boolean; json?: boolean; store?: string },
  io: CliIo,
  companions?: CompanionRegistry,
): Promise<number> {
  const url = storeUrlOf(options.store);
  if (url !== undefined && dir !== undefined) {
    throw new InvalidInputError(`ckpt prune ${dir} --store ${maskStoreUrl(url)}: give a directory or a store, not both`, {
      hint: 'a store has no directories; to prune files while $CKPT_STORE is set, pass --store ""',
    });
  }
  if (url === undefined) {
    if (dir === undefined)
      throw new InvalidInputError('ckpt prune: name the directory that holds the checkpoints, or a store with --store URL', {
        hint: 'e.g. ckpt prune .ckpt',
      });
    const info = await new NodeStorage().stat(dir);
    if (info === undefined || !info.isDirectory)
      throw new InvalidInputError(`${dir}: no such directory`, { hint: 'give the directory that holds the checkpoints' });
  }
  const olderThanMs = options.olderThan !== undefined ? parseDuration(options.olderThan, '--older-than') : undefined;
  const report = await withStore(url, (store) =>
    store.prune({
      ...(dir !== undefined && { under: dir }),
      ...(olderThanMs !== undefined && { olderThanMs }),
      ...(options.dryRun && { dryRun: true }),
      ...(companions && { companions }),
    }),
  );
  if (options.json) {
    for (const removed of report.removed) writeJsonLine(io, { type: options.dryRun ? 'would-remove' : 'removed', ...removed });
    for (const skipped of report.skipped) writeJsonLine(io, { type: 'skipped', ...skipped });
    writeJsonLine(io, { type: 'prune-completed', removed: report.removed.length, skipped: report.skipped.length, kept: report.kept });
    return 0;
  }
  const verb = options.dryRun ? 'would remove' : 'removed';
  for (const removed of report.removed) {
    io.stdout.write(
      `${verb} ${removed.path} (${formatBytes(removed.bytes)}, last written ${formatDuration(Date.now() - removed.lastWriteMs)} ago)\n`,
    );
    for (const companion of removed.removed.slice(1)) io.stdout.write(`  and ${companion}\n`);
  }
  for (const skipped of report.skipped) io.stdout.write(`skipped ${skipped.path}: ${skipped.reason}\n`);
  io.stdout.write(`${report.removed.length} ${verb}, ${report.kept} not yet expired, ${report.skipped.length} skipped\n`);
  return 0;
}
