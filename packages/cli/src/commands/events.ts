import { CorruptCheckpointError, type LogEntry } from '@ckpt/core';
import { colors, escapeControlChars as safe, formatTime, jsonReplacer, writeJsonLine, type CliIo } from '../output.js';
import { storeUrlOf, withStore } from '../store.js';

/**
 * `ckpt events CHECKPOINT [--json] [--store URL]`: every record of the log in order, one per
 * line. On a damaged checkpoint: every record readable before the damage, then the damage with
 * its offset (exit 2); the checkpoint is only read, never changed. A checkpoint in a newer format
 * is refused as such (exit 2), not listed as damaged.
 */
export async function eventsCommand(path: string, options: { json?: boolean; store?: string }, io: CliIo): Promise<number> {
  const reading = await withStore(storeUrlOf(options.store), (store) => store.read(path, { withEntries: true, salvage: true }));
  // A newer format is not damage: refuse it as the other verbs do (exit 2, "upgrade ckpt"), with
  // no damage line and no advice to delete it.
  if (reading.damage?.error instanceof CorruptCheckpointError && reading.damage.error.newer) throw reading.damage.error;
  const entries = reading.entries ?? [];
  for (const entry of entries) {
    if (options.json) writeJsonLine(io, jsonOf(entry));
    else io.stdout.write(`${describe(entry)}\n`);
  }
  const { damage } = reading;
  if (damage !== undefined) {
    if (options.json) writeJsonLine(io, { record: 'damage', offset: damage.offset, reason: damage.reason, readableRecords: recordCount(entries) });
    else io.stdout.write(colors.red(`(damage at byte offset ${damage.offset}: ${damage.reason})\n`));
    throw new CorruptCheckpointError(path, damage.offset, damage.reason, {
      hint:
        `${recordCount(entries)} record(s) before the damage are listed above; the checkpoint was not changed. ` +
        'Keep a copy for investigation; deleting it starts the job from the beginning',
    });
  }
  if (reading.tail !== undefined && !options.json) {
    io.stdout.write(colors.yellow(`(torn tail: ${reading.tail.bytes} bytes at offset ${reading.tail.offset} — ${reading.tail.reason})\n`));
  }
  return 0;
}

function recordCount(entries: readonly LogEntry[]): number {
  return new Set(entries.map((entry) => entry.seq)).size;
}

function jsonOf(entry: LogEntry) {
  switch (entry.kind) {
    case 'epoch':
      return { seq: entry.seq, offset: entry.offset, record: 'epoch', ...entry.epoch };
    case 'snapshot':
      return { seq: entry.seq, offset: entry.offset, record: 'snapshot', eventCount: entry.eventCount };
    case 'event':
      return { seq: entry.seq, offset: entry.offset, index: entry.index, ...entry.event };
  }
}

function describe(entry: LogEntry): string {
  const where = colors.dim(`#${entry.seq}${entry.kind === 'event' ? `.${entry.index}` : ''} @${entry.offset}`);
  switch (entry.kind) {
    case 'epoch': {
      const { epoch } = entry;
      const tail = epoch.truncatedTail;
      return (
        `${where} ${colors.cyan('epoch')} ${epoch.epoch}${epoch.pid ? ` pid ${epoch.pid}` : ''}${epoch.host ? ` on ${safe(epoch.host)}` : ''} ${formatTime(epoch.startedAt)}` +
        (tail !== undefined
          ? colors.yellow(
              `  recovery truncated ${tail.bytes} bytes at offset ${tail.offset}, after record ${tail.lastGoodSeq} (${safe(tail.reason)})`,
            )
          : '')
      );
    }
    case 'snapshot':
      return `${where} ${colors.cyan('snapshot')} of ${entry.eventCount} events (compaction)`;
    case 'event': {
      const { type, at, ...fields } = entry.event as { type: string; at?: number } & Record<string, unknown>;
      return `${where} ${at !== undefined ? `${formatTime(at)} ` : ''}${colors.bold(safe(type))} ${safe(JSON.stringify(fields, jsonReplacer))}`;
    }
  }
}
