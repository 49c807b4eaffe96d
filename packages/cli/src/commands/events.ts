import type { LogEntry } from '@ckpt/core';
import { colors, escapeControlChars as safe, formatTime, jsonReplacer, writeJsonLine, type CliIo } from '../output.js';
import { readCheckpointForViewing } from './read-checkpoint.js';

/** `ckpt events FILE [--json]`: every record of the log in order, one per line. */
export async function eventsCommand(path: string, options: { json?: boolean }, io: CliIo): Promise<number> {
  const reading = await readCheckpointForViewing(path, true);
  for (const entry of reading.entries ?? []) {
    if (options.json) writeJsonLine(io, jsonOf(entry));
    else io.stdout.write(`${describe(entry)}\n`);
  }
  if (reading.tailBytes > 0 && !options.json) {
    io.stdout.write(colors.yellow(`(torn tail: ${reading.tailBytes} bytes at offset ${reading.validEnd} — ${reading.tailReason ?? 'incomplete record'})\n`));
  }
  return 0;
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
    case 'epoch':
      return `${where} ${colors.cyan('epoch')} ${entry.epoch.epoch}${entry.epoch.pid ? ` pid ${entry.epoch.pid}` : ''}${entry.epoch.host ? ` on ${safe(entry.epoch.host)}` : ''} ${formatTime(entry.epoch.startedAt)}`;
    case 'snapshot':
      return `${where} ${colors.cyan('snapshot')} of ${entry.eventCount} events (compaction)`;
    case 'event': {
      const { type, at, ...fields } = entry.event as { type: string; at?: number } & Record<string, unknown>;
      return `${where} ${at !== undefined ? `${formatTime(at)} ` : ''}${colors.bold(safe(type))} ${safe(JSON.stringify(fields, jsonReplacer))}`;
    }
  }
}
