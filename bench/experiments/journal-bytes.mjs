#!/usr/bin/env node
/**
 * Do two builds of @ckpt/core write the same file? Same appends (concurrent and sequential,
 * durable and buffered, a compaction, a reopen), with an injected clock and random source:
 *   node bench/experiments/journal-bytes.mjs BASE_CORE_DIST_INDEX
 * Prints whether the files are identical and, record by record, what differs (payload, type
 * and seq; offset; durable mark — the offset known durable when the record was written, which
 * depends on how appends were grouped into writes).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const base = process.argv[2];
if (!base) {
  console.error('usage: journal-bytes.mjs BASE_CORE_DIST_INDEX');
  process.exit(2);
}
const tmp = fs.mkdtempSync(join(os.tmpdir(), 'ckpt-bytes-'));
const files = {};
for (const [name, index] of [
  ['base', resolve(base)],
  ['new', join(root, 'packages/core/dist/index.js')],
]) {
  const core = await import(index);
  const path = join(tmp, `${name}.ckpt`);
  let n = 0;
  const randomBytes = (size) => Uint8Array.from({ length: size }, () => (n++ * 31) & 255);
  const options = {
    storage: new core.NodeStorage(),
    fold: new core.Fold(),
    compaction: { minBytes: 4096 },
    now: () => 1_700_000_000_000,
    randomBytes,
    session: { pid: 1, host: 'h' },
  };
  const journal = await core.Journal.create(path, core.createIdentity({ kind: 'b', id: 'b', version: 1, structure: {} }), options);
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      journal.append([{ type: 'cursor-set', unit: `u${i % 7}`, cursor: i }], { durability: i % 3 ? 'durable' : 'buffered' }),
    ),
  );
  for (let i = 0; i < 300; i++)
    await journal.append([{ type: 'cursor-set', unit: `u${i % 7}`, cursor: { a: [i, 'x'] } }], { durability: i % 5 ? 'buffered' : 'durable' });
  await journal.close();
  const reopened = await core.Journal.open(path, options);
  await reopened.append([{ type: 'cursor-set', unit: 'z', cursor: 1 }]);
  await reopened.close();
  files[name] = fs.readFileSync(path);
}
const hash = (b) => createHash('sha256').update(b).digest('hex').slice(0, 16);
console.log(`base ${hash(files.base)}  new ${hash(files.new)}  ${Buffer.compare(files.base, files.new) === 0 ? 'IDENTICAL' : 'DIFFERENT'}`);
const { scanLog } = await import(join(root, 'packages/core/dist/internal.js'));
const [a, b] = [scanLog(files.base), scanLog(files.new)];
const differs = { records: a.records.length !== b.records.length, content: 0, offset: 0, durableMark: 0 };
for (let i = 0; i < Math.min(a.records.length, b.records.length); i++) {
  const [x, y] = [a.records[i], b.records[i]];
  if (x.seq !== y.seq || x.type !== y.type || Buffer.compare(Buffer.from(x.payload), Buffer.from(y.payload)) !== 0) differs.content++;
  if (x.offset !== y.offset) differs.offset++;
  if (x.durableMark !== y.durableMark) differs.durableMark++;
}
console.log(
  `${a.records.length} records; differing: count ${differs.records}, content ${differs.content}, offset ${differs.offset}, durable mark ${differs.durableMark}`,
);
fs.rmSync(tmp, { recursive: true, force: true });
