import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Fold, Journal, NodeStorage, createIdentity, readLog, type CkptEvent } from '@ckpt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { timelineOf } from './timeline.js';
import { ckptBin } from '../test-support/ckpt-bin.js';

const main = ckptBin();
/** The headless browser the rendering test drives, if this machine has one. */
const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((name) => spawnSync('which', [name]).status === 0);
/** In CI the browser test always runs (and fails without a browser); elsewhere it needs one. */
const inCi = process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false' && process.env['CI'] !== '0';
const browserSkipped = chromium === undefined && !inCi;
const BROWSER_SKIP_NOTE =
  'no Chromium on this machine: install it (apt-get install chromium) to render the timeline in a browser; CI=true makes a missing browser a failure (.ci/run)';
// Said once when the file loads, so the run's output shows why the test did not run.
if (browserSkipped) console.warn(`skipped: the timeline browser test — ${BROWSER_SKIP_NOTE}`);
const artifacts = fileURLToPath(new URL('../../test-results/', import.meta.url));
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-timeline-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Three attempts: the first crashes while `load` runs, the second fails in `publish`, the third succeeds. */
async function threeAttempts(): Promise<string> {
  const path = join(dir, 'nightly.ckpt');
  const identity = createIdentity({ kind: 'control-flow', id: 'nightly-load', version: 3, structure: ['extract', 'load', 'publish'] });
  const storage = new NodeStorage();
  const fold = new Fold();
  let t = 1_700_000_000_000;
  const at = (event: CkptEvent, step = 1000): CkptEvent => ({ ...event, at: (t += step) });
  const journal = await Journal.create(path, identity, { storage, fold });
  for (const event of [
    { type: 'attempt-started', attempt: 1 },
    { type: 'unit-started', unit: 'extract' },
    { type: 'unit-completed', unit: 'extract', outcome: 'success' },
    { type: 'unit-started', unit: 'load' },
  ] as CkptEvent[])
    await journal.append([at(event)]);
  await journal.close();
  t += 3_600_000; // an hour passes before the restart
  const second = await Journal.open(path, { storage, fold });
  for (const event of [
    { type: 'attempt-started', attempt: 2 },
    { type: 'unit-started', unit: 'load' },
    { type: 'unit-completed', unit: 'load', outcome: 'success' },
    { type: 'unit-started', unit: 'publish' },
    { type: 'unit-failed', unit: 'publish', error: { message: 'table locked' } },
    { type: 'attempt-ended', attempt: 2, outcome: 'failure', error: { message: 'table locked' } },
  ] as CkptEvent[])
    await second.append([at(event)]);
  await second.close();
  const third = await Journal.open(path, { storage, fold });
  for (const event of [
    { type: 'attempt-started', attempt: 3 },
    { type: 'unit-started', unit: 'publish' },
    { type: 'unit-completed', unit: 'publish', outcome: 'success' },
    { type: 'attempt-ended', attempt: 3, outcome: 'success' },
  ] as CkptEvent[])
    await third.append([at(event)]);
  await third.close();
  return path;
}

describe('the timeline of all attempts', () => {
  it('marks the crashed attempt, the unit in flight at the crash, and each rerun', async () => {
    const reading = await readLog(new NodeStorage(), await threeAttempts(), new Fold(), { withEntries: true });
    const timeline = timelineOf(reading.entries ?? []);
    expect(timeline.attempts.map((a) => a.outcome)).toEqual(['crashed', 'failure', 'success']);
    expect(timeline.units).toEqual(['extract', 'load', 'publish']);
    expect(timeline.spans.map((s) => `${s.attempt}:${s.unit}:${s.outcome}`)).toEqual([
      '1:extract:success',
      '1:load:in-flight',
      '2:load:success',
      '2:publish:failed',
      '3:publish:success',
    ]);
  });

  it('ckpt inspect --html writes one self-contained page, readable only by its owner', async () => {
    const page = await writePage();
    const html = readFileSync(page, 'utf8');
    expect(html).not.toMatch(/<script|\s(src|href)=/); // self-contained: nothing to fetch
    expect(html.match(/<rect class="span /g)).toHaveLength(5);
    expect(statSync(page).mode & 0o777).toBe(0o600);
  });

  // Without a browser and outside CI the test is skipped, saying so and how to enable it; in
  // CI (CI=true, set by .ci/run, which installs Chromium) a missing browser fails the run.
  it.skipIf(browserSkipped)(
    `headless Chromium renders the page: five bars, one crash mark, two restart lines${browserSkipped ? ' [skipped: no Chromium; apt-get install chromium]' : ''}`,
    async () => {
      expect(
        chromium,
        `headless Chromium is needed for this test (CI=${process.env['CI'] ?? ''}): apt-get install chromium (.ci/run does)`,
      ).toBeDefined();
      const page = await writePage();
      const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${join(dir, 'profile')}`];
      const dom = execFileSync(chromium!, [...flags, '--dump-dom', `file://${page}`], {
        encoding: 'utf8',
        timeout: 60_000,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      // What the browser parsed: five bars, one crash mark, two restart lines.
      expect(dom.match(/<rect class="span /g)).toHaveLength(5);
      expect(dom.match(/class="crash"/g)).toHaveLength(1);
      expect(dom.match(/class="restart"/g)).toHaveLength(2);
      mkdirSync(artifacts, { recursive: true });
      const screenshot = join(artifacts, 'timeline.png');
      rmSync(screenshot, { force: true });
      execFileSync(chromium!, [...flags, '--hide-scrollbars', '--window-size=1300,260', `--screenshot=${screenshot}`, `file://${page}`], {
        timeout: 60_000,
        stdio: 'ignore',
      });
      expect(existsSync(screenshot)).toBe(true);
      const png = readFileSync(screenshot);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(1300); // width from the IHDR chunk
    },
  );
});

/** Runs `ckpt inspect --html` on the three-attempt checkpoint and returns the page's path. */
async function writePage(): Promise<string> {
  const path = await threeAttempts();
  const page = join(dir, 'timeline.html');
  const result = spawnSync(process.execPath, [main, 'inspect', path, '--html', page], { encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  return page;
}
