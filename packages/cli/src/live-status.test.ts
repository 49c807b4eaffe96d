import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { LiveStatus } from './live-status.js';

const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '');

function terminal() {
  let written = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      written += String(chunk);
      done();
    },
  });
  return { stream, written: () => plain(written) };
}

it('keeps the running steps below the log, with their elapsed time, and erases them when done', () => {
  let now = 0;
  const out = terminal();
  const live = new LiveStatus(out.stream, () => now, 60_000);
  live.started('extract');
  now = 2_000;
  live.started('load');
  now = 5_000;
  expect(live.lines().map(plain)).toEqual(['⋯ extract  running for 5.00s', '⋯ load  running for 3.00s']);
  live.log('✓ something else');
  // Before the log line: the two status lines are erased; after it: drawn again.
  expect(
    out.written().endsWith('\u001b[1A\u001b[2K\u001b[1A\u001b[2K✓ something else\n⋯ extract  running for 5.00s\n⋯ load  running for 3.00s\n'),
  ).toBe(true);
  live.finished('extract');
  live.finished('load');
  expect(live.lines()).toEqual([]);
  expect(out.written().endsWith('\u001b[1A\u001b[2K\u001b[1A\u001b[2K')).toBe(true);
});
