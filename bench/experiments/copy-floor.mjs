// The floor of `ckpt copy` in plain Node (bench/FINDINGS.md, issue 15 "copies"): the receiver's
// I/O pattern with nothing of ckpt in it (no hash, no journal, no CLI start-up). Called like the
// CLI, so bench/experiments/copy-ab.mjs can time it as a contestant:
//   node bench/experiments/copy-floor.mjs copy SRC DST [--checkpoint-interval MIB]   (8MiB or 8; 0: one sync at the end)
// Reads 1 MiB chunks ahead into a ring of 4 reused buffers (packages/file-transfer local-source.ts
// readAhead), keeps up to 3 positional writes in flight behind them (receiver.ts copyLoop), and
// fdatasyncs every interval (default 8 MiB) in the background, at most 2 queued
// (checkpoint-pipeline.ts), then once at the end.
import * as fs from 'node:fs';
import { promisify } from 'node:util';

const read = promisify(fs.read);
const write = promisify(fs.write);
const fdatasync = promisify(fs.fdatasync);
const args = process.argv.slice(2);
const [verb, source, destination] = args;
if (verb !== 'copy' || !source || !destination) {
  console.error('usage: copy-floor.mjs copy SRC DST [--checkpoint-interval MIB]');
  process.exit(2);
}
const at = args.indexOf('--checkpoint-interval');
const every = (at >= 0 ? Number.parseFloat(args[at + 1]) : 8) * (1 << 20); // '8MiB' or '8': MiB
const chunk = 1 << 20;
const held = 2;
const input = fs.openSync(source, 'r');
const output = fs.openSync(destination, 'w');
const size = fs.fstatSync(input).size;
const buffers = Array.from({ length: held + 2 }, () => Buffer.allocUnsafe(chunk));
let which = 0;
let offset = 0;
let reading = size > 0 ? read(input, buffers[0], 0, Math.min(chunk, size), 0) : undefined;
const writes = [];
let syncs = Promise.resolve();
let queued = 0;
const writeAll = async (buffer, length, position) => {
  for (let done = 0; done < length; ) done += (await write(output, buffer, done, length - done, position + done)).bytesWritten;
};
while (reading) {
  const { bytesRead, buffer } = await reading;
  if (bytesRead === 0) break;
  const position = offset;
  offset += bytesRead;
  which = (which + 1) % buffers.length;
  reading = offset < size ? read(input, buffers[which], 0, Math.min(chunk, size - offset), offset) : undefined;
  writes.push(writeAll(buffer, bytesRead, position));
  if (every > 0 && offset % every === 0) {
    const written = Promise.all(writes);
    queued++;
    syncs = syncs.then(async () => {
      await written;
      await fdatasync(output);
      queued--;
    });
  }
  while (writes.length > held) await writes.shift();
  if (queued > 2) await syncs;
}
await Promise.all(writes);
await syncs;
fs.fdatasyncSync(output);
fs.closeSync(output);
fs.closeSync(input);
