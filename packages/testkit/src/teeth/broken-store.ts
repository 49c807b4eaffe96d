import { Fold, type CheckpointReading, type CheckpointState, type CheckpointStore, type CkptEvent } from '@ckpt/core';
import { delegateLog } from '../store/delegate-log.js';
import type { StoreHarness } from '../store/store-harness.js';

/**
 * Deliberately broken stores, to prove that the runner contract at the store boundary has
 * teeth: each wraps a working {@link CheckpointStore} (any adapter) and breaks one promise of
 * the port; the contract run against it must fail.
 */

/**
 * Acknowledges before the commit: a durable append is sent as a buffered one and answers at
 * once, and a barrier answers without waiting for anything, so what the runner was told is
 * durable may be lost by a crash.
 */
export function acknowledgesBeforeCommit(store: CheckpointStore): CheckpointStore {
  return {
    description: store.description,
    open: async (options) => {
      const opened = await store.open(options);
      const log = opened.log;
      const broken = delegateLog(log, {
        append: (events) => log.append(events, { durability: 'buffered' }),
        sync: () => Promise.resolve(),
      });
      return { ...opened, log: broken };
    },
    read: (name, options) => store.read(name, options),
    list: (options) => store.list(options),
    prune: (options) => store.prune(options),
    delete: (name) => store.delete(name),
    close: () => store.close(),
  };
}

/** The state of `reading` without its last record's events (the entries after the last snapshot, minus the highest seq). */
function withoutLastRecord(reading: CheckpointReading, fold: Fold): CheckpointState {
  const entries = reading.entries ?? [];
  const snapshotAt = entries.findLastIndex((entry) => entry.kind === 'snapshot');
  const snapshot = entries[snapshotAt];
  const tail = entries.slice(snapshotAt + 1).flatMap((entry) => (entry.kind === 'event' ? [entry] : []));
  if (tail.length === 0) return reading.state;
  const last = tail.at(-1)!.seq;
  const events: CkptEvent[] = tail.filter((entry) => entry.seq !== last).map((entry) => entry.event);
  return fold.foldEvents(events, snapshot?.kind === 'snapshot' ? snapshot.state : fold.initial());
}

/**
 * Loses the last record of a checkpoint, acknowledged or not: reading it, and resuming it, show
 * the state without it (as a store that lost its last commit in a crash would).
 */
export function forgetsLastRecord(store: CheckpointStore): CheckpointStore {
  const readForgetting = async (name: string, reducers: Parameters<CheckpointStore['read']>[1]): Promise<CheckpointReading> => {
    const reading = await store.read(name, { ...reducers, withEntries: true });
    return { ...reading, state: withoutLastRecord(reading, new Fold(reducers?.reducers ?? [])) };
  };
  return {
    description: store.description,
    open: async (options) => {
      const opened = await store.open(options);
      if (!opened.resumed) return opened;
      const reading = await readForgetting(options.name, { ...(options.reducers !== undefined && { reducers: options.reducers }) });
      return { ...opened, startState: reading.state };
    },
    read: (name, options) => readForgetting(name, options),
    list: (options) => store.list(options),
    prune: (options) => store.prune(options),
    delete: (name) => store.delete(name),
    close: () => store.close(),
  };
}

/** A harness whose every store handle (connected, or handed over by a crash) is broken by `wrap`. */
export function brokenHarness(harness: StoreHarness, wrap: (store: CheckpointStore) => CheckpointStore): StoreHarness {
  return {
    ...harness,
    name: (label) => harness.name(label),
    dump: () => harness.dump(),
    setLastWrite: (name, ms) => harness.setLastWrite(name, ms),
    cleanup: () => harness.cleanup(),
    connect: async () => wrap(await harness.connect()),
    crash: async (seed) => wrap(await harness.crash(seed)),
    // The harness kills the processes it knows: the store it connected, not the wrapper.
    kill: () => Promise.reject(new Error('brokenHarness: kill is not supported')),
  };
}
