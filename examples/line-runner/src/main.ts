/**
 * `node examples/line-runner/dist/main.js INPUT OUTPUT` — upper-cases every line of INPUT into
 * OUTPUT, with a checkpoint beside OUTPUT. Kill it (Ctrl-C or kill -9) and run it again: it
 * continues where it stopped.
 */
import { Engine, isCkptError } from '@ckpt/core';
import { lineRunner } from './line-runner.js';

const [input, output] = process.argv.slice(2);
if (input === undefined || output === undefined) {
  process.stderr.write('usage: node examples/line-runner/dist/main.js INPUT OUTPUT\n');
  process.exit(2);
}
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
const result = await new Engine()
  .run(
    lineRunner,
    { input, output, transform: (line) => line.toUpperCase(), transformName: 'upper-case' },
    { checkpoint: { path: `${output}.ckpt`, usage: 'if-exists', save: true }, signal: controller.signal },
  )
  .catch((error: unknown) => {
    // Refused before any work (locked, corrupt, another job's checkpoint): say why, exit 2.
    if (!isCkptError(error)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(2);
  });
// The runner's typed result on success; on failure, how far the recorded cursor got.
const lines = result.result?.lines ?? (result.state.cursors.get('lines')?.cursor as { lines?: number } | undefined)?.lines ?? 0;
process.stdout.write(`${result.outcome}${result.resumed ? ' (resumed)' : ''}: ${lines} lines, attempt ${result.attempt}\n`);
if (result.error) process.stderr.write(`${result.error.message}\n`);
process.exitCode = result.outcome === 'success' ? 0 : result.outcome === 'interrupted' ? 130 : 1;
