/**
 * The verbs on a store through the port, in-process, with an in-memory stand-in for the
 * PostgreSQL adapter (a FileStore under names, reporting a store's owner: host, pid, epoch,
 * lease): `inspect` shows owner, epoch and lease; `list --store` has the file list's columns;
 * `events` and `prune` read and prune by name; `run` names the checkpoint by checkpoint.file as
 * written, else the package id. The real adapter runs the same verbs in @ckpt/postgres's tests.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Engine,
  FileStore,
  createIdentity,
  type CheckpointOwner,
  type CheckpointReading,
  type CheckpointStore,
  type ListedCheckpoint,
  type OpenCheckpointOptions,
  type Runner,
  type StoreAdapterModule,
} from '@ckpt/core';
import { Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventsCommand } from './commands/events.js';
import { inspectCommand } from './commands/inspect.js';
import { listCommand } from './commands/list.js';
import { pruneCommand } from './commands/prune.js';
import { runCommand } from './commands/run.js';
import type { CliIo } from './output.js';
import { storeAdapters } from './store.js';

const URL = 'postgres://ckpt:hunter2@db.internal:5432/jobs';
const MASKED = 'postgres://ckpt:***@db.internal:5432/jobs';
const LEASE_END = Date.UTC(2026, 11, 2, 3, 0, 0);

/** A store that keeps each named checkpoint in a file of a folder, and reports the owner a shared store would. */
class NamedStore implements CheckpointStore {
  readonly description = MASKED;
  readonly opened: string[] = [];
  private readonly files: FileStore;
  constructor(
    private readonly dir: string,
    private readonly owner: CheckpointOwner | undefined,
  ) {
    this.files = new FileStore();
  }
  private path(name: string): string {
    return join(this.dir, `${encodeURIComponent(name)}.ckpt`);
  }
  private named(name: string, reading: CheckpointReading): CheckpointReading {
    return { ...reading, name, ...(this.owner !== undefined && { owner: this.owner }) };
  }
  open(options: OpenCheckpointOptions) {
    this.opened.push(options.name);
    return this.files.open({ ...options, name: this.path(options.name) });
  }
  async read(name: string, options?: Parameters<CheckpointStore['read']>[1]) {
    return this.named(name, await this.files.read(this.path(name), options));
  }
  async *list(options?: Parameters<CheckpointStore['list']>[0]): AsyncIterable<ListedCheckpoint> {
    for await (const row of this.files.list({ ...options, under: this.dir })) {
      const name = decodeURIComponent(row.name.slice(this.dir.length + 1, -'.ckpt'.length));
      yield { ...row, name, ...(row.reading && { reading: this.named(name, row.reading) }), ...(this.owner !== undefined && { owner: this.owner }) };
    }
  }
  async prune(options?: Parameters<CheckpointStore['prune']>[0]) {
    const report = await this.files.prune({ ...options, under: this.dir });
    return {
      ...report,
      removed: report.removed.map((r) => ({ ...r, path: decodeURIComponent(r.path.slice(this.dir.length + 1, -'.ckpt'.length)) })),
    };
  }
  delete(name: string) {
    return this.files.delete(this.path(name));
  }
  async close() {}
}

const failing: Runner<{ id: string }> = {
  kind: 'test',
  identify: (job) => createIdentity({ kind: 'test', id: job.id, version: 1, structure: ['a', 'b'] }),
  run: () =>
    new Observable((subscriber) => {
      subscriber.next({ type: 'unit-started', unit: 'a' });
      subscriber.next({ type: 'unit-completed', unit: 'a', outcome: 'success' });
      subscriber.error(new Error('b failed'));
    }),
};

function captureIo(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stream = (add: (text: string) => void) => ({ write: (chunk: string) => (add(String(chunk)), true) }) as unknown as NodeJS.WritableStream;
  return { stdout: stream((t) => (out += t)), stderr: stream((t) => (err += t)), out: () => out, err: () => err };
}

let dir: string;
let store: NamedStore;
const original = storeAdapters.postgres;
const owner: CheckpointOwner = { host: 'machine-a', pid: 4242, since: LEASE_END - 60_000, epoch: 3, leaseExpiresAt: LEASE_END, state: 'live' };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-store-verbs-'));
  store = new NamedStore(dir, owner);
  const adapter: StoreAdapterModule = { connectStore: async (url) => (expect(url).toBe(URL), store) };
  storeAdapters.postgres = async () => adapter;
  await new Engine({ store }).run(failing, { id: 'nightly' }, { checkpoint: { path: 'nightly', usage: 'if-exists', save: true } });
});
afterEach(async () => {
  storeAdapters.postgres = original;
  await rm(dir, { recursive: true, force: true });
});

describe('verbs on a store', () => {
  it('inspect NAME --store shows the store (masked), the owner with its epoch and lease, and the state', async () => {
    const io = captureIo();
    expect(await inspectCommand('nightly', { store: URL }, io)).toBe(0);
    const text = io.out().replace(/\u001b\[[0-9;]*m/g, '');
    expect(text).toContain(`checkpoint nightly in ${MASKED}`);
    expect(text).toMatch(/owner {6}pid 4242 on machine-a since .*, ownership epoch 3, lease until 2026-12-02 03:00:00.*\(running\)/);
    expect(text).toContain('test "nightly" version 1');
    expect(text).not.toContain('hunter2');

    const json = captureIo();
    await inspectCommand('nightly', { store: URL, json: true }, json);
    const parsed = JSON.parse(json.out()) as { name: string; store: string; file?: string; owner: CheckpointOwner; completed: unknown[] };
    expect(parsed).toMatchObject({
      name: 'nightly',
      store: MASKED,
      owner: { host: 'machine-a', pid: 4242, epoch: 3, leaseExpiresAt: LEASE_END, state: 'live' },
    });
    expect(parsed.file).toBeUndefined();
    expect(parsed.completed).toHaveLength(1);
  });

  it('list --store lists the store’s checkpoints with the file list’s columns, the owner with its lease', async () => {
    const io = captureIo();
    expect(await listCommand(undefined, { store: URL }, io)).toBe(0);
    const lines = io
      .out()
      .replace(/\u001b\[[0-9;]*m/g, '')
      .split('\n');
    expect(lines[0]).toMatch(/^CHECKPOINT +JOB +ATTEMPTS +LAST ENDED +OUTCOME +OWNER$/);
    expect(lines[1]).toMatch(/^nightly +test nightly v1 +1 +\S+ \S+ +failure +pid 4242 on machine-a \(running, lease until 2026-12-02 03:00:00/);

    const json = captureIo();
    await listCommand(undefined, { store: URL, json: true }, json);
    const row = JSON.parse(json.out()) as Record<string, unknown>;
    expect(row).toMatchObject({
      name: 'nightly',
      id: 'nightly',
      attempts: 1,
      status: 'failure',
      owner: { state: 'live', host: 'machine-a', pid: 4242, epoch: 3, leaseExpiresAt: LEASE_END },
    });
    expect(row['file']).toBeUndefined();
  });

  it('events NAME --store prints the records in order; prune --store removes by name', async () => {
    const io = captureIo();
    expect(await eventsCommand('nightly', { store: URL, json: true }, io)).toBe(0);
    const types = io
      .out()
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { type?: string; record?: string }).type ?? (JSON.parse(line) as { record?: string }).record);
    expect(types).toEqual(['epoch', 'attempt-started', 'unit-started', 'unit-completed', 'attempt-ended']);

    const pruned = captureIo();
    expect(await pruneCommand(undefined, { store: URL, olderThan: '0s' }, pruned)).toBe(0);
    expect(pruned.out()).toContain('removed nightly');
    expect(await store.read('nightly').catch((error: Error) => error.message)).toContain('no such checkpoint');
  });

  it('run --store names the checkpoint checkpoint.file as written, else the package id', async () => {
    await writeFile(
      join(dir, 'named.yaml'),
      `id: pkg\nversion: 1\ncheckpoint: { file: jobs/nightly.ckpt, usage: if-exists, save: true }\nsteps:\n  - { id: a, exec: [sh, -c, 'true'] }\n`,
    );
    await writeFile(
      join(dir, 'unnamed.yaml'),
      `id: pkg-two\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: a, exec: [sh, -c, 'true'] }\n`,
    );
    store.opened.length = 0;
    for (const file of ['named.yaml', 'unnamed.yaml']) {
      const io = captureIo();
      expect(await runCommand(join(dir, file), { store: URL, json: true }, io), io.err()).toBe(0);
    }
    expect(store.opened).toEqual(['jobs/nightly.ckpt', 'pkg-two']);
  });

  it('run --store says where the checkpoint is kept: its name in the store, the URL masked', async () => {
    await writeFile(
      join(dir, 'fails.yaml'),
      `id: fails\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: a, exec: [sh, -c, 'exit 3'] }\n`,
    );
    const human = captureIo();
    expect(await runCommand(join(dir, 'fails.yaml'), { store: URL }, human)).toBe(1);
    expect(human.err()).toContain(`checkpoint kept at fails in ${MASKED}`);
    const json = captureIo();
    await runCommand(join(dir, 'fails.yaml'), { store: URL, json: true }, json);
    expect(JSON.parse(json.out().split('\n')[0]!)).toMatchObject({ type: 'run-started', checkpoint: 'fails', store: MASKED, resumed: true });
    expect(human.out() + human.err() + json.out()).not.toContain('hunter2');
  });
});
