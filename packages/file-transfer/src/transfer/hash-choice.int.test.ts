import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { map } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstDifference } from '@ckpt/testkit';
import { Engine, Fold, InterruptedError, InvalidInputError, NodeStorage, readLog, type CkptEvent, type Runner } from '@ckpt/core';
import { isEventEmission } from '@ckpt/core/internal';
import { copyFile } from '../copy-file.js';
import type { HashAlgorithm } from './chain-hash.js';
import { LocalSource } from './local-source.js';
import { checkpointPathOf } from './names.js';
import { transferReducer } from './transfer-reducer.js';
import { receiveRunner, type ReceiveJob, type TransferEvent, type TransferNotice, type TransferResult } from './receiver.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-hash-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const KiB = 1024;
const DIGEST = { xxh3: /^xxh3-chain:[0-9a-f]{32}$/, sha256: /^sha256-chain:[0-9a-f]{64}$/ } as const;

/** Copies until `stopAt` bytes were received, then aborts (a kill that recorded its checkpoints). */
async function interruptedCopy(source: string, destination: string, stopAt: number, hash?: HashAlgorithm): Promise<void> {
  const controller = new AbortController();
  await expect(
    copyFile({
      source,
      destination,
      checkpointInterval: 64 * KiB,
      ...(hash && { hash }),
      retry: { shortRetries: 0, longRetries: 0 },
      signal: controller.signal,
      onProgress: (p) => p.offset >= stopAt && controller.abort(),
    }),
  ).rejects.toBeInstanceOf(InterruptedError);
}

/** The `transfer/started` events recorded in `destination`'s checkpoint. */
async function startedEvents(destination: string): Promise<CkptEvent[]> {
  const { entries } = await readLog(new NodeStorage(), checkpointPathOf(destination), new Fold([transferReducer]), { withEntries: true });
  return (entries ?? []).flatMap((entry) => (entry.kind === 'event' && entry.event.type === 'transfer/started' ? [entry.event] : []));
}

describe('the chain hash of a local copy', () => {
  it.each(['xxh3', 'sha256'] as const)('--hash %s copies byte for byte, records the hash, and resumes with it', async (hash) => {
    const data = randomBytes(640 * KiB + 5);
    await writeFile(join(dir, 'a'), data);
    await interruptedCopy(join(dir, 'a'), join(dir, 'b'), 300 * KiB, hash);
    expect((await startedEvents(join(dir, 'b'))).map((e) => (e as { hash?: unknown }).hash)).toEqual([hash]);
    const events: TransferEvent[] = [];
    const result = await copyFile({
      source: join(dir, 'a'),
      destination: join(dir, 'b'),
      checkpointInterval: 64 * KiB,
      hash,
      onEvent: (e) => events.push(e),
    });
    expect(result.resumedFrom).toBeGreaterThan(0);
    expect(result.digest).toMatch(DIGEST[hash]);
    expect(events.map((e) => e.type)).not.toContain('transfer/warning');
    expect(events.map((e) => e.type)).not.toContain('transfer/restarted');
    expect(firstDifference(await readFile(join(dir, 'b')), data)).toBeUndefined();
  });

  it('uses XXH3-128 by default, and the two hashes give different digests of the same bytes', async () => {
    const data = randomBytes(200 * KiB);
    await writeFile(join(dir, 'a'), data);
    const fast = await copyFile({ source: join(dir, 'a'), destination: join(dir, 'b') });
    const slow = await copyFile({ source: join(dir, 'a'), destination: join(dir, 'c'), hash: 'sha256' });
    expect(fast.digest).toMatch(DIGEST.xxh3);
    expect(slow.digest).toMatch(DIGEST.sha256);
  });

  it('a resume asked for another hash keeps the one the copy started with, and says so', async () => {
    const data = randomBytes(640 * KiB);
    await writeFile(join(dir, 'a'), data);
    await interruptedCopy(join(dir, 'a'), join(dir, 'b'), 300 * KiB, 'sha256');
    const events: TransferEvent[] = [];
    const result = await copyFile({
      source: join(dir, 'a'),
      destination: join(dir, 'b'),
      checkpointInterval: 64 * KiB,
      hash: 'xxh3',
      onEvent: (e) => events.push(e),
    });
    expect(result.resumedFrom).toBeGreaterThan(0);
    expect(result.digest).toMatch(DIGEST.sha256);
    const warnings = events.filter((e) => e.type === 'transfer/warning').map((e) => String(e['message']));
    expect(warnings).toEqual(['resuming with the chain hash sha256, the one this copy started with; xxh3 applies to a copy that starts over']);
    expect(firstDifference(await readFile(join(dir, 'b')), data)).toBeUndefined();
  });

  it('resumes a checkpoint written before the hash was recorded (no "hash" field) with SHA-256', async () => {
    const data = randomBytes(640 * KiB);
    const source = join(dir, 'a');
    const destination = join(dir, 'b');
    await writeFile(source, data);
    // The receiver of an earlier revision: the same records, without `hash` in transfer/started.
    const withoutHash = (events: readonly CkptEvent[]) =>
      events.map((e) => {
        if (e.type !== 'transfer/started') return e;
        const { hash: _hash, ...rest } = e as CkptEvent & { hash?: string };
        return rest as CkptEvent;
      });
    const legacy: Runner<ReceiveJob, TransferResult, TransferNotice> = {
      ...receiveRunner,
      run: (job, context) =>
        receiveRunner.run(job, context).pipe(
          map((emission) => {
            if (isEventEmission(emission) || !('record' in emission)) return emission;
            const { record } = emission;
            return { record: withoutHash(Array.isArray(record) ? record : [record as CkptEvent]) };
          }),
        ) as ReturnType<typeof receiveRunner.run>,
    };
    const controller = new AbortController();
    const input = new LocalSource(source);
    const execution = await new Engine({ storage: new NodeStorage() }).open(
      legacy,
      { destination, source: input, interval: 64 * KiB, verify: 'tail', hash: 'sha256' },
      { checkpoint: { path: checkpointPathOf(destination), usage: 'if-exists', save: true }, signal: controller.signal },
    );
    execution.notices().subscribe((n) => n.offset >= 300 * KiB && controller.abort());
    const first = await execution.run();
    await input.close();
    expect(first.outcome).not.toBe('success');
    const started = await startedEvents(destination);
    expect(started).toHaveLength(1);
    expect(started[0]).not.toHaveProperty('hash');

    const events: TransferEvent[] = [];
    const result = await copyFile({ source, destination, checkpointInterval: 64 * KiB, onEvent: (e) => events.push(e) });
    expect(result.resumedFrom).toBeGreaterThan(0);
    expect(result.digest).toMatch(DIGEST.sha256);
    expect(events.map((e) => e.type)).not.toContain('transfer/restarted');
    expect(events.filter((e) => e.type === 'transfer/warning').map((e) => String(e['message']))).toEqual([
      'resuming with the chain hash sha256, the one this copy started with; xxh3 applies to a copy that starts over',
    ]);
    expect(firstDifference(await readFile(destination), data)).toBeUndefined();
  });

  it('refuses an unknown hash before anything is written', async () => {
    await writeFile(join(dir, 'a'), 'x');
    const copying = copyFile({ source: join(dir, 'a'), destination: join(dir, 'b'), hash: 'md5' as HashAlgorithm });
    await expect(copying).rejects.toBeInstanceOf(InvalidInputError);
    await expect(copying).rejects.toThrow(/unknown chain hash "md5"/);
  });
});
