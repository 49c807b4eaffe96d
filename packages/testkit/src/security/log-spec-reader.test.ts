// One file over ~400 lines on purpose: one comparison (the doc-only reader against core's) and the helpers only it uses.
import {
  CorruptCheckpointError,
  Fold,
  Journal,
  createIdentity,
  readLogBytes,
  snapshotState,
  type CkptEvent,
  type LogEntry,
} from '@ckpt/core/internal';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { journalScenarioArbitrary } from '../crash/crash-arbitraries.js';
import { CI_WORKLOADS, exploreCrashStates } from '../crash/exhaustive.js';
import { propertySettings, soakFactor } from '../crash/property-settings.js';
import { SCENARIO_PATH, emptyScenarioDisk, readCheckpoint, runSessionOnDisk, type JournalScenario } from '../journal/journal-scenario.js';
import type { SimulatedStorage } from '../storage/simulated-storage.js';
import {
  MsgpackEntries,
  RawMsgpack,
  craftFile,
  decodePayload,
  encodeBySpec,
  frameAt,
  readBySpec,
  type CraftedRecord,
  type SpecEntry,
  type SpecReading,
} from '../test-support/spec-reader.js';

/**
 * Issue 12 item 23: docs/log-format.md must be enough to read a checkpoint as ckpt does. The
 * reader in test-support/spec-reader.ts is written from the doc alone (it imports nothing of
 * core's log code); here it and core's reader read the crash corpus — every file a crash can
 * leave, then copies with bits flipped, bytes truncated or zero-filled — and must agree on
 * every one: the same events, the same truncation offset, or the same refusal offset.
 */

const fold = new Fold();

/** A comparable form: binaries tagged, keys sorted, undefined values dropped, NaN/-0 spelled out. */
function canonical(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bin: [...value] };
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : Object.is(value, -0) ? '-0' : value;
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

type Outcome =
  | { readonly kind: 'accepted'; readonly validEnd: number; readonly entries: unknown[] }
  | { readonly kind: 'refused'; readonly offset: number };

function coreOutcome(bytes: Uint8Array): Outcome & { reason?: string } {
  try {
    const reading = readLogBytes('/spec/job.ckpt', bytes, fold, { withEntries: true });
    return { kind: 'accepted', validEnd: reading.validEnd, entries: (reading.entries ?? []).map(coreEntry) };
  } catch (error) {
    if (error instanceof CorruptCheckpointError) return { kind: 'refused', offset: error.offset, reason: error.reason };
    throw error;
  }
}

function coreEntry(entry: LogEntry): unknown {
  switch (entry.kind) {
    case 'epoch':
      return { kind: 'epoch', seq: entry.seq, offset: entry.offset, value: canonical(entry.epoch) };
    case 'event':
      return { kind: 'event', seq: entry.seq, offset: entry.offset, index: entry.index, value: canonical(entry.event) };
    case 'snapshot':
      return { kind: 'snapshot', seq: entry.seq, offset: entry.offset, value: canonical(snapshotState(entry.state, fold)) };
  }
}

function specOutcome(reading: SpecReading): Outcome & { reason?: string } {
  if (reading.kind === 'refused') return reading;
  return { kind: 'accepted', validEnd: reading.validEnd, entries: reading.entries.map(specEntry) };
}

function specEntry(entry: SpecEntry): unknown {
  switch (entry.kind) {
    case 'epoch':
      return { kind: 'epoch', seq: entry.seq, offset: entry.offset, value: canonical(entry.epoch) };
    case 'event':
      return { kind: 'event', seq: entry.seq, offset: entry.offset, index: entry.index, value: canonical(entry.event) };
    case 'snapshot':
      return { kind: 'snapshot', seq: entry.seq, offset: entry.offset, value: canonical(entry.state) };
  }
}

/** What the two readers make of `bytes`; the reasons are kept for messages only. */
function bothReadings(bytes: Uint8Array): { core: Outcome & { reason?: string }; spec: Outcome & { reason?: string } } {
  return { core: coreOutcome(bytes), spec: specOutcome(readBySpec(bytes)) };
}

function strip(outcome: Outcome & { reason?: string }): Outcome {
  const { reason: _reason, ...rest } = outcome;
  return rest;
}

/** Throws when the readers disagree on `bytes`, with both verdicts and the bytes in hex. */
function expectAgreement(bytes: Uint8Array, what: string): Outcome {
  const { core, spec } = bothReadings(bytes);
  const a = JSON.stringify(strip(core));
  const b = JSON.stringify(strip(spec));
  if (a !== b) {
    throw new Error(
      `${what}: the doc's reader and ckpt disagree\n  ckpt: ${a.slice(0, 400)} (${core.reason ?? ''})\n  spec: ${b.slice(0, 400)} (${spec.reason ?? ''})\n  file (${bytes.length} bytes): ${Buffer.from(bytes).toString('hex')}`,
    );
  }
  return strip(core);
}

/** Damage applied to a copy of a crashed file. Positions are taken modulo the file's length. */
type Damage =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'xor'; readonly at: number; readonly mask: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'zero'; readonly at: number; readonly length: number }
  | { readonly kind: 'extend'; readonly length: number; readonly fill: number };

const damageArbitrary: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('xor' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('zero' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 600 }) }),
  fc.record({ kind: fc.constant('extend' as const), length: fc.integer({ min: 1, max: 600 }), fill: fc.constantFrom(0, 0xff) }),
);

function applyDamage(file: Uint8Array, damage: Damage): Uint8Array {
  const copy = file.slice();
  const at = copy.length === 0 ? 0 : damage.kind === 'extend' ? 0 : damage.at % copy.length;
  switch (damage.kind) {
    case 'flip':
      if (copy.length > 0) copy[at] = copy[at]! ^ (1 << damage.bit);
      return copy;
    case 'xor':
      if (copy.length > 0) copy[at] = copy[at]! ^ damage.mask;
      return copy;
    case 'truncate':
      return copy.slice(0, damage.at % (copy.length + 1));
    case 'zero':
      copy.fill(0, at, at + damage.length);
      return copy;
    case 'extend': {
      const longer = new Uint8Array(copy.length + damage.length).fill(damage.fill);
      longer.set(copy, 0);
      return longer;
    }
  }
}

/** Runs `scenario`'s sessions, each ended by its crash, and returns the file each crash left. */
async function crashedFiles(scenario: JournalScenario): Promise<Uint8Array[]> {
  const files: Uint8Array[] = [];
  let disk: SimulatedStorage = await emptyScenarioDisk();
  let history: readonly CkptEvent[] = [];
  for (const session of scenario.sessions) {
    const crashed = await runSessionOnDisk(disk, session, scenario.compaction, history, 0);
    disk = crashed.storage.crash(session.plan);
    const file = disk.peekFile(SCENARIO_PATH);
    if (file !== undefined) files.push(file);
    // Keep the history to what the crashed disk holds, as the scenario runner does.
    const state = await readCheckpoint(disk, SCENARIO_PATH, fold);
    history = crashed.history.slice(0, state?.eventCount ?? 0);
  }
  return files;
}

describe('docs/log-format.md is a complete spec (issue 12 item 23)', () => {
  it(
    'a reader written from the doc agrees with ckpt on every crash state and damaged copy',
    async () => {
      const settings = propertySettings<[JournalScenario, Damage[]]>(300);
      console.info(`[ckpt] log spec reader vs ckpt: seed ${String(settings.seed)}, ${String(settings.numRuns)} runs (CKPT_SEED replays)`);
      const tally = { files: 0, accepted: 0, truncated: 0, refused: 0 };
      await fc.assert(
        fc.asyncProperty(
          journalScenarioArbitrary({ maxSessions: 3 }),
          fc.array(damageArbitrary, { minLength: 1, maxLength: 12 }),
          async (scenario, damages) => {
            for (const file of await crashedFiles(scenario)) {
              const copies = [file, ...damages.map((d) => applyDamage(file, d)), damages.reduce(applyDamage, file)];
              for (const [i, copy] of copies.entries()) {
                const outcome = expectAgreement(copy, i === 0 ? 'a crashed file' : `a damaged copy (${JSON.stringify(damages[i - 1] ?? damages)})`);
                tally.files++;
                if (outcome.kind === 'refused') tally.refused++;
                else if (outcome.validEnd < copy.length) tally.truncated++;
                else tally.accepted++;
              }
            }
          },
        ),
        settings,
      );
      console.info(`[ckpt] ${JSON.stringify(tally)}`);
      // The corpus must exercise all three verdicts, or agreement proves little.
      expect(tally.accepted).toBeGreaterThan(0);
      expect(tally.truncated).toBeGreaterThan(0);
      expect(tally.refused).toBeGreaterThan(0);
    },
    60_000 * soakFactor(),
  );

  it('agrees on every crash state of two exhaustive workloads, and re-encodes every payload byte for byte', async () => {
    let files = 0;
    let payloads = 0;
    let states = 0;
    for (const workload of [CI_WORKLOADS[0]!, CI_WORKLOADS[3]!]) {
      const report = await exploreCrashStates(workload, {
        garble: false,
        read: async (storage, path, f) => {
          const bytes = (storage as SimulatedStorage).peekFile(path);
          if (bytes !== undefined) {
            const outcome = expectAgreement(bytes, `an exhaustive crash state of "${workload.name}"`);
            files++;
            if (outcome.kind === 'accepted') payloads += expectSameEncoding(bytes);
          }
          return readCheckpoint(storage, path, f);
        },
      });
      expect(report.failures).toEqual([]);
      states += report.states;
    }
    console.info(`[ckpt] spec reader agreed on ${files} files of ${states} exhaustive crash states; ${payloads} payloads re-encoded identically`);
    expect(files).toBeGreaterThan(1000);
    expect(payloads).toBeGreaterThan(1000);
  }, 60_000);

  it("the doc's encoding rules reproduce what ckpt writes, byte for byte (numbers, timestamps, strings, binaries, undefined)", async () => {
    const disk = await emptyScenarioDisk();
    const journal = await Journal.create(SCENARIO_PATH, createIdentity({ kind: 'spec', id: 'enc', version: 1, structure: {} }), {
      storage: disk,
      fold,
      compaction: false,
    });
    const odd = [
      0,
      1,
      127,
      128,
      255,
      256,
      65_535,
      65_536,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 53,
      -1,
      -32,
      -33,
      -128,
      -129,
      -32_768,
      -32_769,
      -(2 ** 31),
      -(2 ** 31) - 1,
      0.5,
      -0,
      NaN,
      Infinity,
      -Infinity,
    ];
    const strings = [0, 1, 31, 32, 255, 256, 65_535, 65_536].flatMap((n) => [
      'a'.repeat(n),
      'é'.repeat(Math.ceil(n / 2)),
      '😀'.repeat(Math.ceil(n / 4)),
    ]);
    await journal.append([
      { type: 'cursor-set', unit: 'numbers', cursor: odd, at: Date.now() },
      { type: 'cursor-set', unit: 'strings', cursor: strings },
      {
        type: 'cursor-set',
        unit: 'bins',
        cursor: [new Uint8Array(3), new Uint8Array(256), new Uint8Array(65_536), [undefined, null, true, false] as never],
      },
      { type: 'cursor-set', unit: 'maps', cursor: { a: undefined, b: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])) } },
      { type: 'cursor-set', unit: 'arrays', cursor: Array.from({ length: 16 }, (_, i) => i) },
    ]);
    await journal.close();
    const bytes = disk.peekFile(SCENARIO_PATH)!;
    expectAgreement(bytes, 'a file of odd values');
    expect(expectSameEncoding(bytes)).toBe(2);
  });

  it('agrees with ckpt, and with the verdict the doc states, on crafted files for each rule the corpus cannot reach', () => {
    let checked = 0;
    for (const c of craftedCases()) {
      const outcome = expectAgreement(c.bytes, c.name);
      const expected = c.expect;
      if (expected.kind === 'refused') expect(outcome, c.name).toEqual({ kind: 'refused', offset: expected.offset });
      else {
        expect(outcome.kind, c.name).toBe('accepted');
        if (outcome.kind === 'accepted') {
          expect(outcome.validEnd, c.name).toBe(expected.validEnd ?? c.bytes.length);
          if (expected.check) expected.check(outcome.entries as { value: Record<string, unknown> }[]);
        }
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(30);
  });

  it('read-only commands accept a namespace with no reducer, as the doc says', () => {
    const file = craftFile({ records: [epoch(1), events({ type: 'x/y', n: 1 }, { type: 'x/z' })] });
    const core = readLogBytes('/spec/job.ckpt', file.bytes, new Fold([], 'count'), { withEntries: true });
    const spec = readBySpec(file.bytes, { unknownNamespaces: 'accept' });
    expect(spec.kind).toBe('accepted');
    if (spec.kind === 'accepted') expect(spec.entries.map(specEntry)).toEqual((core.entries ?? []).map(coreEntry));
    expect(readBySpec(file.bytes)).toMatchObject({ kind: 'refused', offset: file.offsets[1] });
  });

  it('the gap the doc names is real (when it closes, update the doc and this test)', () => {
    // msgpackr's own typed-array extension (code 1, a Uint8Array): ckpt accepts it, the doc refuses it.
    const typed = craftFile({ records: [epoch(1), events(cursor(raw('d5 74 01 61')))] });
    expect(coreOutcome(typed.bytes).kind).toBe('accepted');
    expect(readBySpec(typed.bytes)).toMatchObject({ kind: 'refused', offset: typed.offsets[1] });
  });

  it('a snapshot scope whose parent is not one of its scopes is refused at the snapshot by both readers (it once crashed ckpt with a TypeError)', () => {
    const state = {
      ...EMPTY_SNAPSHOT,
      scopes: [{ scope: 'b', kind: 'k', parent: 'a', attempt: 0, completed: [{ unit: 'u', outcome: 'success', attempt: 0 }], cursors: [] }],
    };
    const orphan = craftFile({ records: [snapshot(state), events({ type: 'scope-committed', scope: 'b' })] });
    expect(coreOutcome(orphan.bytes)).toMatchObject({ kind: 'refused', offset: orphan.offsets[0] });
    expect(readBySpec(orphan.bytes)).toMatchObject({ kind: 'refused', offset: orphan.offsets[0] });
    const nilParent = craftFile({ records: [snapshot({ ...state, scopes: [{ ...state.scopes[0], parent: null }] })] });
    expect(coreOutcome(nilParent.bytes)).toMatchObject({ kind: 'refused', offset: nilParent.offsets[0] });
    expect(readBySpec(nilParent.bytes)).toMatchObject({ kind: 'refused', offset: nilParent.offsets[0] });
  });
});

/** Re-encodes every record payload of an accepted file by the doc's rules; returns how many matched (throws on the first that does not). */
function expectSameEncoding(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reading = readBySpec(bytes);
  if (reading.kind !== 'accepted') return 0;
  const offsets = [...new Set(reading.entries.map((e) => e.offset))];
  for (const offset of offsets) {
    const payload = bytes.subarray(offset + 28, offset + 28 + view.getUint32(offset, true));
    const again = encodeBySpec(decodePayload(payload));
    if (Buffer.compare(Buffer.from(again), Buffer.from(payload)) !== 0) {
      throw new Error(
        `the record at ${offset} does not re-encode identically:\n  ckpt: ${Buffer.from(payload).toString('hex').slice(0, 300)}\n  spec: ${Buffer.from(again).toString('hex').slice(0, 300)}`,
      );
    }
  }
  return offsets.length;
}

interface CraftedCase {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly expect:
    | { readonly kind: 'refused'; readonly offset: number }
    | { readonly kind: 'accepted'; readonly validEnd?: number; readonly check?: (entries: { value: Record<string, unknown> }[]) => void };
}

const raw = (hex: string) => new RawMsgpack(Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex')));
const epoch = (n: unknown): CraftedRecord => ({ type: 1, payload: encodeBySpec({ epoch: n, startedAt: 0, writer: 'spec' }) });
const events = (...list: unknown[]): CraftedRecord => ({ type: 2, payload: encodeBySpec(list) });
const cursor = (value: unknown) => ({ type: 'cursor-set', unit: 'u', cursor: value });
const EMPTY_SNAPSHOT = {
  v: 1,
  eventCount: 0,
  attempts: [],
  completed: [],
  running: [],
  failed: [],
  cursors: [],
  variables: [],
  config: null,
  scopes: [],
  extensions: [],
};
const snapshot = (state: unknown): CraftedRecord => ({ type: 3, payload: encodeBySpec({ epoch: 1, state }) });
const nested = (depth: number, leaf: unknown = 1): unknown => (depth === 0 ? leaf : [nested(depth - 1, leaf)]);

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** A file whose last record is `last`: refused at its offset, or accepted. */
function lastRecord(
  name: string,
  last: CraftedRecord,
  verdict: 'refused' | 'accepted',
  check?: (entries: { value: Record<string, unknown> }[]) => void,
): CraftedCase {
  const file = craftFile({ records: [epoch(1), last] });
  return {
    name,
    bytes: file.bytes,
    expect: verdict === 'refused' ? { kind: 'refused', offset: file.offsets[1]! } : { kind: 'accepted', ...(check && { check }) },
  };
}

function craftedCases(): CraftedCase[] {
  const cases: CraftedCase[] = [];
  const salt = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  const base = craftFile({ records: [epoch(1), events(cursor(1))] });
  const X = base.bytes.length;

  // §Header: the order and the offsets, truncated headers included.
  const H = base.headerLength;
  for (const length of [0, 7, 8, 30, 43, 44, H - 1]) {
    cases.push({
      name: `a header cut to ${length} bytes`,
      bytes: base.bytes.slice(0, length),
      expect: { kind: 'refused', offset: length < 8 ? 0 : length },
    });
  }
  // §Header: the format versions read (1 and 2, by the same rules), and those refused at the version field.
  for (const [version, verdict] of [
    [0, 'refused'],
    [1, 'accepted'],
    [2, 'accepted'],
    [3, 'refused'],
    [0x0102, 'refused'],
  ] as const) {
    const file = craftFile({ version, records: [epoch(1), events(cursor(1))] });
    cases.push({
      name: `format version ${version}`,
      bytes: file.bytes,
      expect: verdict === 'refused' ? { kind: 'refused', offset: 8 } : { kind: 'accepted' },
    });
  }
  const identityCases: [string, Uint8Array][] = [
    ['an identity without structureHash', encodeBySpec({ kind: 'k', id: 'i', version: '1' })],
    ['an identity with a numeric version', encodeBySpec({ kind: 'k', id: 'i', version: 1, structureHash: 'h' })],
    ['an identity with a trailing byte', concat(encodeBySpec({ kind: 'k', id: 'i', version: '1', structureHash: 'h' }), Uint8Array.of(0))],
  ];
  for (const [name, identity] of identityCases) {
    const file = craftFile({ identity, records: [epoch(1), events(cursor(1))] });
    cases.push({ name, bytes: file.bytes, expect: { kind: 'refused', offset: 40 } });
    // The scan's refusal comes first.
    const damaged = concat(file.bytes, new Uint8Array(80).fill(0xee));
    frameAt(damaged, file.bytes.length + 3, { type: 2, seq: 9, mark: file.bytes.length + 1, payload: encodeBySpec([cursor(2)]) }, salt);
    cases.push({ name: `${name}, and damage a later record proves durable`, bytes: damaged, expect: { kind: 'refused', offset: file.bytes.length } });
  }
  cases.push({
    name: 'an empty identity map with empty strings',
    bytes: craftFile({ identity: encodeBySpec({ kind: '', id: '', version: '', structureHash: '', extra: [1] }), records: [epoch(1)] }).bytes,
    expect: { kind: 'accepted' },
  });

  // §The search: what proves, what does not, and the budget.
  const proof = (name: string, record: Required<CraftedRecord>, at: number, proves: boolean) => {
    const bytes = concat(base.bytes, new Uint8Array(at + 28 + record.payload.length + 7).fill(0xee));
    frameAt(bytes, X + at, record, salt);
    cases.push({ name, bytes, expect: proves ? { kind: 'refused', offset: X } : { kind: 'accepted', validEnd: X } });
  };
  proof(
    'a misaligned later record with a non-msgpack payload and a far seq proves',
    { type: 2, seq: 1000, mark: X + 1, payload: Uint8Array.of(0xc1, 0xc1, 0xc1) },
    3,
    true,
  );
  proof('a later record whose mark is X itself does not prove', { type: 2, seq: 3, mark: X, payload: encodeBySpec([cursor(2)]) }, 3, false);
  proof('a later record whose mark is past itself does not prove', { type: 2, seq: 3, mark: X + 100, payload: encodeBySpec([cursor(2)]) }, 3, false);
  proof(
    'a later record with a seq below the expected one does not prove',
    { type: 2, seq: 2, mark: X + 1, payload: encodeBySpec([cursor(2)]) },
    3,
    false,
  );
  proof('a later record of an unknown type does not prove', { type: 4, seq: 3, mark: X + 1, payload: encodeBySpec([cursor(2)]) }, 3, false);
  proof('a later epoch record proves', { type: 1, seq: 3, mark: X + 1, payload: encodeBySpec({ epoch: 0 }) }, 1, true);
  {
    const bytes = concat(base.bytes, new Uint8Array(90).fill(0xee));
    const end = frameAt(bytes, X + 3, { type: 2, seq: 3, mark: X + 1, payload: encodeBySpec([cursor(2)]) }, salt);
    bytes[end - 1] = bytes[end - 1]! ^ 1;
    cases.push({ name: 'a later record with a bad CRC does not prove', bytes, expect: { kind: 'accepted', validEnd: X } });
  }
  const budget = (candidates: number): Uint8Array => {
    const F = X + (1 << 20);
    const bytes = new Uint8Array(F).fill(0xaa);
    bytes.set(base.bytes, 0);
    const view = new DataView(bytes.buffer);
    for (let k = 0; k < candidates; k++) {
      const q = X + 1 + 32 * k;
      view.setUint32(q, F - q - 28, true);
      bytes[q + 8] = 0;
      bytes[q + 9] = bytes[q + 10] = bytes[q + 11] = 0;
      view.setUint32(q + 20, X + 1, true);
      view.setUint32(q + 24, 0, true);
    }
    return bytes;
  };
  cases.push({ name: 'candidates that spend the search budget: refused', bytes: budget(80), expect: { kind: 'refused', offset: X } });
  cases.push({ name: 'candidates within the search budget: a tail', bytes: budget(8), expect: { kind: 'accepted', validEnd: X } });

  // §Payload checks: refused at the record's own offset even when it is the last one.
  const ev = encodeBySpec([cursor(1)]);
  cases.push(lastRecord('a trailing byte after the payload', { type: 2, payload: concat(ev, Uint8Array.of(0xc0)) }, 'refused'));
  cases.push(lastRecord('an empty payload', { type: 2, payload: new Uint8Array(0) }, 'refused'));
  cases.push(lastRecord('a truncated payload', { type: 2, payload: ev.slice(0, -1) }, 'refused'));
  cases.push(lastRecord('an empty events array', events(), 'refused'));
  cases.push(lastRecord('an events record holding a map', { type: 2, payload: encodeBySpec(cursor(1)) }, 'refused'));
  cases.push(lastRecord('an unknown unnamespaced event type', events({ type: 'frobnicate' }), 'refused'));
  cases.push(lastRecord('an event type with a leading slash', events({ type: '/x' }), 'refused'));
  cases.push(lastRecord('a namespaced event with no reducer (a writer refuses)', events({ type: 'x/y' }), 'refused'));
  cases.push(lastRecord('an event without a string type', events({ type: 1 }), 'refused'));
  cases.push(lastRecord('attempt-ended with no attempt', events({ type: 'attempt-ended', attempt: 1, outcome: 'success' }), 'refused'));
  cases.push(lastRecord('attempt-started 2 first', events({ type: 'attempt-started', attempt: 2 }), 'refused'));
  cases.push(
    lastRecord(
      'attempt-started with a float64 1 and a uint64 timestamp',
      events({ type: 'attempt-started', attempt: raw('cb 3ff0000000000000'), at: raw('cf 0000019300000000') }),
      'accepted',
    ),
  );
  cases.push(
    lastRecord(
      'attempt-ended with a nil error',
      events({ type: 'attempt-started', attempt: 1 }, { type: 'attempt-ended', attempt: 1, outcome: 'success', error: null }),
      'refused',
    ),
  );
  cases.push(
    lastRecord(
      'attempt-ended with an undefined error',
      events({ type: 'attempt-started', attempt: 1 }, { type: 'attempt-ended', attempt: 1, outcome: 'success', error: raw('d4 00 00') }),
      'accepted',
    ),
  );
  cases.push(lastRecord('an event with a non-finite at', events({ ...cursor(1), at: Infinity }), 'refused'));
  cases.push(lastRecord('a unit in a scope that is not open', events({ type: 'unit-started', unit: 'u', scope: 's' }), 'refused'));
  cases.push(
    lastRecord(
      'committing a scope with an open inner scope',
      events(
        { type: 'scope-opened', scope: 'a', kind: 'k' },
        { type: 'scope-opened', scope: 'b', kind: 'k', parent: 'a' },
        { type: 'scope-committed', scope: 'a' },
      ),
      'refused',
    ),
  );
  cases.push(
    lastRecord(
      'aborting a scope closes its inner scopes',
      events(
        { type: 'scope-opened', scope: 'a', kind: 'k' },
        { type: 'scope-opened', scope: 'b', kind: 'k', parent: 'a' },
        { type: 'scope-aborted', scope: 'a' },
        { type: 'scope-opened', scope: 'b', kind: 'k' },
      ),
      'accepted',
    ),
  );
  cases.push(
    lastRecord('config captured twice', events({ type: 'config-captured', config: {} }, { type: 'config-captured', config: {} }), 'refused'),
  );
  cases.push(
    lastRecord(
      'a sensitive variable with a nil value',
      events({ type: 'variable-set', name: 'n', sensitive: true, redacted: true, value: null }),
      'refused',
    ),
  );
  cases.push(
    lastRecord(
      'a sealed variable',
      events({
        type: 'variable-set',
        name: 'n',
        sensitive: true,
        sealed: { alg: 'aes-256-gcm', iv: new Uint8Array(1), tag: new Uint8Array(1), data: new Uint8Array(0) },
      }),
      'accepted',
    ),
  );
  const scoped = (scope: unknown) => ({ type: 'variable-set', name: 'n', value: 1, sensitive: false, scope });
  cases.push(lastRecord('a variable set inside an open scope', events({ type: 'scope-opened', scope: 's', kind: 'k' }, scoped('s')), 'accepted'));
  cases.push(lastRecord('a variable set inside a scope that is not open', events(scoped('s')), 'refused'));
  cases.push(
    lastRecord(
      'a variable set inside a scope already committed',
      events({ type: 'scope-opened', scope: 's', kind: 'k' }, { type: 'scope-committed', scope: 's' }, scoped('s')),
      'refused',
    ),
  );
  cases.push(lastRecord('a variable-set with an empty scope', events(scoped('')), 'refused'));
  cases.push(lastRecord('a variable-set with a nil scope', events(scoped(null)), 'accepted'));
  cases.push(lastRecord('cursor-set with an undefined cursor', events({ type: 'cursor-set', unit: 'u', cursor: raw('d4 00 00') }), 'accepted'));
  cases.push(lastRecord('cursor-set without a cursor', events({ type: 'cursor-set', unit: 'u' }), 'refused'));

  // §Decoding payloads.
  cases.push(lastRecord('extension type 0 decodes as absent', events({ ...cursor([undefined]), scope: raw('d5 00 0000') }), 'accepted'));
  cases.push(lastRecord('a timestamp extension is refused', events(cursor(raw('d6 ff 00000001'))), 'refused'));
  cases.push(lastRecord('an unknown extension is refused', events(cursor(raw('d4 05 01'))), 'refused'));
  cases.push(lastRecord('a Set extension is refused', events(cursor(raw('d4 73 00'))), 'refused'));
  cases.push(lastRecord('byte c1 is refused', events(cursor(raw('c1'))), 'refused'));
  cases.push(lastRecord('a binary map key is refused', events(cursor(raw('81 c40161 01'))), 'refused'));
  cases.push(
    lastRecord(
      '__proto__ is renamed, number, nil and boolean keys become strings',
      events(cursor(new MsgpackEntries([['__proto__', 1]])), cursor(raw('85 01 02 cb3ff8000000000000 03 c0 04 c3 05 ff 06'))),
      'accepted',
      (entries) => {
        expect(entries[1]!.value['cursor']).toEqual({ __proto_: 1 });
        expect(entries[2]!.value['cursor']).toEqual({ '1': 2, '1.5': 3, null: 4, true: 5, '-1': 6 });
      },
    ),
  );
  cases.push(
    lastRecord('a repeated key keeps the later value', events(cursor(raw('82 a161 01 a161 02'))), 'accepted', (entries) =>
      expect(entries[1]!.value['cursor']).toEqual({ a: 2 }),
    ),
  );
  cases.push(
    lastRecord('invalid UTF-8 becomes U+FFFD', events(cursor(raw('a4 c328 eda0'))), 'accepted', (entries) =>
      expect(entries[1]!.value['cursor']).toBe('\ufffd(\ufffd\ufffd'),
    ),
  );
  cases.push(
    lastRecord('uint64 past 2^53 rounds as a double', events(cursor(raw('cf 0020000000000001'))), 'accepted', (entries) =>
      expect(entries[1]!.value['cursor']).toBe(2 ** 53),
    ),
  );
  cases.push(lastRecord('containers up to depth 63', events(cursor(nested(62))), 'accepted'));
  cases.push(lastRecord('a container at depth 64', events(cursor(nested(63))), 'refused'));
  cases.push(lastRecord('a binary at depth 64', events(cursor(nested(62, new Uint8Array(1)))), 'refused'));
  cases.push(lastRecord('a binary at depth 63', events(cursor(nested(61, new Uint8Array(1)))), 'accepted'));

  // Epochs, from an implicit 0, compared as doubles.
  const epochs = (name: string, list: unknown[], refusedAt: number | undefined) => {
    const file = craftFile({ records: list.map(epoch) });
    cases.push({
      name,
      bytes: file.bytes,
      expect: refusedAt === undefined ? { kind: 'accepted' } : { kind: 'refused', offset: file.offsets[refusedAt]! },
    });
  };
  epochs('a first epoch of 0', [0], 0);
  epochs('a negative first epoch', [-1], 0);
  epochs('a fractional epoch then a larger one', [0.5, 2], undefined);
  epochs('a repeated epoch', [1, 2, 2], 2);
  epochs('a NaN epoch is refused (compared as a double it would let every later epoch pass)', [NaN, 1, 1], 0);
  epochs('an infinite epoch is refused', [1, Infinity], 1);
  epochs('a string epoch', ['1'], 0);

  // Snapshots: first only, schema, and what they restore.
  const snap = (name: string, records: CraftedRecord[], refusedAt: number | undefined) => {
    const file = craftFile({ records });
    cases.push({
      name,
      bytes: file.bytes,
      expect: refusedAt === undefined ? { kind: 'accepted' } : { kind: 'refused', offset: file.offsets[refusedAt]! },
    });
  };
  const ended = {
    ...EMPTY_SNAPSHOT,
    eventCount: 2,
    attempts: [{ attempt: 1, outcome: 'success' }],
    scopes: [{ scope: 's', kind: 'k', attempt: 1, completed: [], cursors: [] }],
  };
  snap('a valid snapshot then an epoch', [snapshot(EMPTY_SNAPSHOT), epoch(2)], undefined);
  snap('a snapshot as second record', [epoch(1), snapshot(EMPTY_SNAPSHOT)], 1);
  snap('a snapshot with v 2', [snapshot({ ...EMPTY_SNAPSHOT, v: 2 })], 0);
  const pendingScope = (variables: unknown) => ({
    ...EMPTY_SNAPSHOT,
    scopes: [{ scope: 's', kind: 'k', attempt: 1, completed: [], cursors: [], variables }],
  });
  snap(
    'a snapshot scope holding a pending variable, committed after it',
    [
      snapshot(pendingScope([{ name: 'n', value: 1, sensitive: false, redacted: false, attempt: 1 }])),
      epoch(2),
      events({ type: 'scope-committed', scope: 's' }),
    ],
    undefined,
  );
  snap('a snapshot scope whose variables entry lacks a name', [snapshot(pendingScope([{ value: 1 }]))], 0);
  snap('a snapshot scope whose variables are nil', [snapshot(pendingScope(null))], 0);
  snap('a snapshot without extensions', [snapshot({ ...EMPTY_SNAPSHOT, extensions: undefined })], 0);
  snap('a snapshot with a negative eventCount', [snapshot({ ...EMPTY_SNAPSHOT, eventCount: -1 })], 0);
  snap('a snapshot whose completed entry lacks a unit', [snapshot({ ...EMPTY_SNAPSHOT, completed: [{ outcome: 'success' }] })], 0);
  snap(
    'a snapshot with an epoch below the next one is fine; the epoch after it must exceed it',
    [{ type: 3, payload: encodeBySpec({ epoch: 5, state: EMPTY_SNAPSHOT }) }, epoch(5)],
    1,
  );
  snap(
    'ending an attempt a snapshot holds as ended',
    [snapshot(ended), epoch(2), events({ type: 'attempt-ended', attempt: 1, outcome: 'failure' })],
    2,
  );
  snap(
    "starting the attempt after the snapshot's last",
    [snapshot(ended), epoch(2), events({ type: 'attempt-started', attempt: 2 }, { type: 'unit-started', unit: 'u', scope: 's' })],
    undefined,
  );
  snap(
    'an attempt whose outcome is nil counts as ended',
    [snapshot({ ...ended, attempts: [{ attempt: 1, outcome: null }] }), epoch(2), events({ type: 'attempt-ended', attempt: 1, outcome: 'failure' })],
    2,
  );
  return cases;
}
