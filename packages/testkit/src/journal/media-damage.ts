import { CorruptCheckpointError, Fold, scanLog } from '@ckpt/core/internal';
import {
  SCENARIO_PATH,
  checkPrefix,
  emptyScenarioDisk,
  readCheckpoint,
  runSessionOnDisk,
  type JournalScenarioOptions,
  type JournalStep,
} from './journal-scenario.js';

/** Which byte of which provably durable record to damage. Indices are taken modulo what exists. */
export interface MediaDamage {
  readonly record: number;
  readonly byte: number;
  /** XOR mask applied to the byte (0 is treated as 1). */
  readonly mask: number;
}

/** What reading the damaged checkpoint gave. */
export type MediaDamageOutcome = 'refused' | 'no-durable-record' | 'accepted';

const fold = new Fold();

/**
 * The media-damage property: run `steps`, lose power, then flip a byte inside a record that a
 * later record proves was durable (its durable mark lies past it). A correct reader must refuse
 * the file (CorruptCheckpointError) — or, if it reads it, return a prefix that still holds every
 * event the undamaged disk held. A reader that "salvages" by dropping the damaged record and
 * what follows loses acknowledged events and fails with a CrashPropertyViolation.
 */
export async function runMediaDamage(
  steps: readonly JournalStep[],
  damage: MediaDamage,
  options: Pick<JournalScenarioOptions, 'read'> = {},
): Promise<MediaDamageOutcome> {
  const crashed = await runSessionOnDisk(await emptyScenarioDisk(), { steps, crashAt: Number.MAX_SAFE_INTEGER, plan: {} }, false, [], 0);
  const disk = crashed.storage.crash({});
  const durable = await readCheckpoint(disk, SCENARIO_PATH, fold);
  const k = checkPrefix(durable, crashed.history, crashed.acknowledged, 'before the damage');
  const bytes = disk.peekFile(SCENARIO_PATH);
  if (bytes === undefined) return 'no-durable-record';
  const scan = scanLog(bytes);
  if (scan.kind !== 'ok') throw new Error(`the undamaged checkpoint does not scan: ${scan.reason}`);
  const provable = scan.records.filter((record, i) => scan.records.slice(i + 1).some((later) => later.durableMark > record.offset));
  if (provable.length === 0) return 'no-durable-record';
  const target = provable[damage.record % provable.length]!;
  const offset = target.offset + (damage.byte % (target.end - target.offset));
  disk.damage(SCENARIO_PATH, offset, damage.mask & 0xff || 1);
  const read = options.read ?? readCheckpoint;
  let state;
  try {
    state = await read(disk, SCENARIO_PATH, fold);
  } catch (error) {
    if (error instanceof CorruptCheckpointError) return 'refused';
    throw error;
  }
  checkPrefix(state, crashed.history.slice(0, k), k, `byte ${offset} damaged (record ${target.seq} at ${target.offset})`);
  return 'accepted';
}
