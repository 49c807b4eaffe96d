/** Helpers of the file-transfer suites: test data, peers run as processes, the copy probe. */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { probeVerb, runProcess } from '../lib/ckpt.mjs';

export const MiB = 1024 * 1024;

/** A file of `size` bytes of incompressible data (1 MiB random blocks, each one stamped with its index). */
export function makeSource(path, size) {
  if (fs.existsSync(path) && fs.statSync(path).size === size) return path;
  const fd = fs.openSync(path, 'w', 0o600);
  const block = randomBytes(MiB);
  for (let offset = 0, index = 0; offset < size; offset += MiB, index++) {
    block.writeUInt32LE(index, 0);
    fs.writeSync(fd, block, 0, Math.min(MiB, size - offset), offset);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return path;
}

/** Removes `dir` and makes it again, empty. */
export function freshDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Runs a shell command line and returns its wall time; throws on failure. */
export async function shellMs(line, cwd) {
  const result = await runProcess('sh', ['-c', line], { cwd });
  if (result.code !== 0) throw new Error(`${line} exited ${result.code}: ${result.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  return result.ms;
}

/** A Node stream pipe read -> write, then fdatasync: what a Node user writes by hand. */
export async function nodePipeMs(source, destination) {
  const start = performance.now();
  const out = fs.createWriteStream(destination, { flags: 'w', mode: 0o600 });
  await pipeline(fs.createReadStream(source, { highWaterMark: MiB }), out);
  const fd = fs.openSync(destination, 'r+');
  fs.fdatasyncSync(fd);
  fs.closeSync(fd);
  return performance.now() - start;
}

/** Whether `ckpt copy` is built: a real one copies a 1-byte file; the placeholder says so. */
export async function probeCopy(ctx) {
  const dir = freshDir(join(ctx.tmp, 'probe'));
  const source = join(dir, 'one.bin');
  fs.writeFileSync(source, 'x');
  return probeVerb(ctx.paths, 'copy', [source, join(dir, 'one.copy'), '--json'], dir);
}

/** `ckpt copy --json`; resolves with the parsed last line (transfer-completed) and the wall time. */
export async function ckptCopy(ctx, source, destination, extra = [], options = {}) {
  const result = await runProcess(process.execPath, [ctx.paths.cliMain, 'copy', source, destination, '--json', ...extra], options);
  if (result.code !== 0 && !options.allowFailure) {
    throw new Error(`ckpt copy exited ${result.code ?? result.signal}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  const last = result.stdout.trim().split('\n').at(-1);
  let completed;
  try {
    completed = last ? JSON.parse(last) : undefined;
  } catch {
    completed = undefined;
  }
  if (result.code === 0 && completed?.type !== 'transfer-completed') {
    throw new Error(`ckpt copy --json: the last line is not transfer-completed: ${last}`);
  }
  return { ms: result.ms, completed, result };
}

/**
 * Size of the largest file in `dir` (the partial data of a transfer lies beside its
 * destination), 0 when none. Not recursive: lock directories come and go while it lists.
 */
export function largestFile(dir) {
  let largest = 0;
  for (const name of fs.readdirSync(dir)) {
    try {
      const s = fs.statSync(join(dir, String(name)));
      if (s.isFile() && s.size > largest) largest = s.size;
    } catch {
      // Renamed or removed while listing.
    }
  }
  return largest;
}

/** A size as the contract writes it for `--checkpoint-interval` (`16MiB`, `0`). */
export function sizeArg(bytes) {
  return bytes === 0 ? '0' : bytes % MiB === 0 ? `${bytes / MiB}MiB` : String(bytes);
}

/** Formats a byte count as MiB/GiB for labels. */
export function sizeLabel(bytes) {
  return bytes >= 1024 * MiB ? `${bytes / (1024 * MiB)} GiB` : `${bytes / MiB} MiB`;
}
