import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptCheckpointError, InvalidInputError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import { Fold } from '../fold/fold.js';
import { NodeStorage } from '../storage/node-storage.js';
import { createIdentity } from '../store/identity.js';
import { FORMAT_VERSION, HeaderOffset, OLDEST_FORMAT_VERSION } from './format.js';
import { Journal } from './journal.js';
import { readIdentity, readLog } from './read-log.js';

/**
 * Format version 2 (variables set inside a scope, held until it commits): new files are written
 * as version 2, version-1 files still read and are rewritten as version 2 before a writer appends
 * to them, and a file newer than this program is refused as such, untouched.
 */

const storage = new NodeStorage();
const fold = new Fold();
const identity = createIdentity({ kind: 'test', id: 'format', version: 1, structure: { steps: ['a'] } });
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-format-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const versionOf = (bytes: Uint8Array) => Buffer.from(bytes).readUInt16LE(HeaderOffset.Version);

/** `bytes` with the header's version set to `version` and its CRC recomputed. */
function withVersion(bytes: Uint8Array, version: number): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeUInt16LE(version, HeaderOffset.Version);
  const headerLength = copy.readUInt16LE(HeaderOffset.HeaderLength);
  copy.writeUInt32LE(crc32(copy.subarray(0, headerLength - 4)), headerLength - 4);
  return copy;
}

const set = (name: string, value: number, scope?: string): CkptEvent => ({
  type: 'variable-set',
  name,
  value,
  valueType: 'int',
  sensitive: false,
  ...(scope !== undefined && { scope }),
});

/** A file as a version-1 writer left it: the same events, none of them a scoped variable-set. */
async function versionOneFile(path: string): Promise<Buffer> {
  const journal = await Journal.create(path, identity, { storage, fold, compaction: false });
  await journal.append([{ type: 'attempt-started', attempt: 1 }, set('rows', 1)]);
  await journal.append([
    { type: 'scope-opened', scope: 'tx', kind: 'transaction' },
    { type: 'unit-started', unit: 'a', scope: 'tx' },
  ]);
  await journal.close();
  const bytes = withVersion(readFileSync(path), 1);
  writeFileSync(path, bytes);
  return bytes;
}

describe('format version', () => {
  it('a new file is written as version 2, and so is a compacted one', async () => {
    expect(FORMAT_VERSION).toBe(2);
    expect(OLDEST_FORMAT_VERSION).toBe(1);
    const path = join(dir, 'new.ckpt');
    const journal = await Journal.create(path, identity, { storage, fold });
    await journal.append([{ type: 'scope-opened', scope: 'tx', kind: 'transaction' }, set('rows', 2, 'tx')]);
    expect(versionOf(readFileSync(path))).toBe(2);
    await journal.compact();
    await journal.close();
    expect(versionOf(readFileSync(path))).toBe(2);
    expect((await readLog(storage, path, fold)).state.scopes.get('tx')?.variables.get('rows')?.value).toBe(2);
  });

  it('a version-1 file reads as before, without being changed', async () => {
    const path = join(dir, 'v1.ckpt');
    const bytes = await versionOneFile(path);
    const reading = await readLog(storage, path, fold, { withEntries: true });
    expect(reading.header.version).toBe(1);
    expect(reading.state.variables.get('rows')?.value).toBe(1);
    expect(reading.state.running.get('a')?.scope).toBe('tx');
    expect(await readIdentity(storage, path)).toEqual(identity);
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it('opening a version-1 file for writing rewrites it as version 2 first: its records byte for byte, then what is appended', async () => {
    const path = join(dir, 'v1.ckpt');
    const bytes = await versionOneFile(path);
    const journal = await Journal.open(path, { storage, fold, compaction: false });
    await journal.append([set('rows', 3, 'tx'), { type: 'scope-committed', scope: 'tx' }]);
    await journal.close();
    const after = readFileSync(path);
    expect(versionOf(after)).toBe(2);
    const headerLength = bytes.readUInt16LE(HeaderOffset.HeaderLength);
    // Same header but for the version and its CRC; the old records unchanged, at the same offsets.
    expect(after.subarray(0, HeaderOffset.Version).equals(bytes.subarray(0, HeaderOffset.Version))).toBe(true);
    expect(after.subarray(HeaderOffset.HeaderLength, headerLength - 4).equals(bytes.subarray(HeaderOffset.HeaderLength, headerLength - 4))).toBe(
      true,
    );
    expect(after.subarray(headerLength, bytes.length).equals(bytes.subarray(headerLength))).toBe(true);
    const reading = await readLog(storage, path, fold);
    expect(reading.state.variables.get('rows')?.value).toBe(3);
    expect(reading.epoch).toBe(2);
    expect(readdirSync(dir)).toEqual(['v1.ckpt']);
  });

  it('a version-1 file with a torn tail is upgraded without the tail, and the truncation is still reported', async () => {
    const path = join(dir, 'torn.ckpt');
    const bytes = await versionOneFile(path);
    writeFileSync(path, Buffer.concat([bytes, Buffer.from([7, 0, 0, 0, 1, 2])]));
    const journal = await Journal.open(path, { storage, fold });
    expect(journal.recovery.truncatedBytes).toBe(6);
    await journal.close();
    const reading = await readLog(storage, path, fold);
    expect(reading.header.version).toBe(2);
    expect(reading.truncatedTails).toMatchObject([{ offset: bytes.length, bytes: 6 }]);
  });

  it('a file newer than this program is refused as such, by readers and writers, and left untouched', async () => {
    const path = join(dir, 'v3.ckpt');
    await versionOneFile(path);
    const newer = withVersion(readFileSync(path), FORMAT_VERSION + 1);
    writeFileSync(path, newer);
    for (const attempt of [() => readLog(storage, path, fold), () => readIdentity(storage, path), () => Journal.open(path, { storage, fold })]) {
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CorruptCheckpointError);
      expect((error as CorruptCheckpointError).offset).toBe(HeaderOffset.Version);
      expect((error as Error).message).toContain(`cannot be read at byte offset 8: format version 3 is newer than this ckpt reads (versions 1 to 2)`);
      expect((error as CorruptCheckpointError).hint).toMatch(/upgrade ckpt.*not damaged/);
      expect((error as Error).message).not.toContain('corrupt');
    }
    expect(readFileSync(path).equals(newer)).toBe(true);
  });

  it('version 0 is refused as a version ckpt never wrote', async () => {
    const path = join(dir, 'v0.ckpt');
    await versionOneFile(path);
    writeFileSync(path, withVersion(readFileSync(path), 0));
    await expect(readLog(storage, path, fold)).rejects.toThrow(/corrupt at byte offset 8: format version 0 is not a version ckpt ever wrote/);
  });

  it('a variable-set naming a scope that is not open rejects that append only', async () => {
    const path = join(dir, 'scope.ckpt');
    const journal = await Journal.create(path, identity, { storage, fold });
    await journal.append([set('rows', 1)]);
    const rejected = journal.append([{ type: 'scope-opened', scope: 'tx', kind: 'transaction' }, set('rows', 2, 'elsewhere')]);
    await expect(rejected).rejects.toBeInstanceOf(InvalidInputError);
    await expect(rejected).rejects.toThrow(/event 1 \(variable-set\) is invalid: variable-set: scope "elsewhere" is not open/);
    expect(journal.failed).toBeUndefined();
    await journal.append([{ type: 'scope-opened', scope: 'tx', kind: 'transaction' }, set('rows', 2, 'tx')]);
    await journal.close();
    const reading = await readLog(storage, path, fold);
    expect(reading.state.variables.get('rows')?.value).toBe(1);
    expect(reading.state.scopes.get('tx')?.variables.get('rows')?.value).toBe(2);
  });
});
