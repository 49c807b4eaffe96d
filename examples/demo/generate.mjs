// Writes SIZE_MIB MiB of order lines to PATH (a stand-in for an extract job).
import { open } from 'node:fs/promises';

const [path, sizeMiB] = process.argv.slice(2);
const target = Number(sizeMiB) * 1024 * 1024;
const file = await open(path, 'w');
const regions = ['eu', 'us', 'apac', 'latam'];
let written = 0;
let id = 0;
while (written < target) {
  const lines = [];
  for (let i = 0; i < 16_384; i++, id++) lines.push(`${id},${regions[id % 4]},${(id * 7919) % 100_000},2026-11-23\n`);
  const chunk = Buffer.from(lines.join('')).subarray(0, target - written);
  await file.write(chunk);
  written += chunk.length;
}
await file.sync();
await file.close();
console.log(`generated ${sizeMiB} MiB of orders`);
