/**
 * Building blocks shared by the journal suites: the event every suite appends, the identity,
 * and the raw peers written the way a careful user would write them by hand.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const write = promisify(fs.write);
const fdatasync = promisify(fs.fdatasync);
const open = promisify(fs.open);
const close = promisify(fs.close);

/** Units the events cycle through: the folded state stays bounded whatever the history length. */
export const UNITS = 100;

/** The i-th event of a history: a cursor moved, the commonest checkpoint event. */
export function eventAt(i) {
  return { type: 'cursor-set', unit: `u${i % UNITS}`, cursor: i };
}

/** The identity of every bench journal. */
export function benchIdentity(core) {
  return core.createIdentity({ kind: 'bench', id: 'bench', version: 1, structure: { units: UNITS } });
}

/** A fresh journal in `dir`. */
export async function createJournal(core, dir, name, { compaction = false } = {}) {
  const path = join(dir, name);
  fs.rmSync(path, { force: true });
  const journal = await core.Journal.create(path, benchIdentity(core), {
    storage: new core.NodeStorage(),
    fold: new core.Fold(),
    compaction,
  });
  return { journal, path };
}

/**
 * The bytes the journal writes for record `i` holding one event: the 28-byte frame plus the
 * msgpack payload of `[event]`. The raw peers write exactly as many bytes.
 */
export function recordBytes(core, msgpackr, i) {
  const packr = new msgpackr.Packr({ useRecords: false, structuredClone: false, moreTypes: false });
  const payload = packr.pack([eventAt(i)]);
  const bytes = Buffer.alloc(core.RECORD_HEADER_BYTES + payload.length);
  bytes.set(payload, core.RECORD_HEADER_BYTES);
  return bytes;
}

/** An fd-level appender with the node:fs callback API (one thread-pool hop per call). */
export async function openRawAsync(path) {
  fs.rmSync(path, { force: true });
  const fd = await open(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  let position = 0;
  return {
    async append(bytes, sync) {
      let done = 0;
      while (done < bytes.length) done += (await write(fd, bytes, done, bytes.length - done, position + done)).bytesWritten;
      position += bytes.length;
      if (sync) await fdatasync(fd);
    },
    close: () => close(fd),
  };
}

/** The same with the synchronous API: no thread-pool hop, blocks the event loop. */
export function openRawSync(path) {
  fs.rmSync(path, { force: true });
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  let position = 0;
  return {
    append(bytes, sync) {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
      position += bytes.length;
      if (sync) fs.fdatasyncSync(fd);
    },
    close: () => fs.closeSync(fd),
  };
}

/**
 * SQLite as an event store: WAL mode, synchronous=FULL (every commit fsyncs the WAL: the same
 * durability promise as a durable append), one table of (seq, body) rows where body is the
 * same msgpack payload the journal writes.
 */
export function openSqlite(Database, path) {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(path + suffix, { force: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('create table events (seq integer primary key, body blob not null)');
  const insert = db.prepare('insert into events (seq, body) values (?, ?)');
  const insertMany = db.transaction((rows) => {
    for (const [seq, body] of rows) insert.run(seq, body);
  });
  return {
    db,
    insertOne: (seq, body) => insert.run(seq, body),
    insertMany,
    close: () => db.close(),
  };
}

/**
 * Times `work(db)` on a fresh SQLite event store at `path` (open and removal are not timed);
 * returns the elapsed milliseconds.
 */
export function timeSqlite(Database, path, work) {
  const db = openSqlite(Database, path);
  const start = performance.now();
  work(db);
  const ms = performance.now() - start;
  db.close();
  removeSqlite(path);
  return ms;
}

/** Removes a SQLite database and its WAL files. */
export function removeSqlite(path) {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(path + suffix, { force: true });
}

/** The sqlite row of `sqlite` when available, else an unavailable row with its reason. */
export function sqliteAvailability(ctx) {
  return ctx.sqlite.available ? { available: true } : { available: false, reason: ctx.sqlite.reason };
}
