import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { readmeCore } from './readme-core.js';

it('the @ckpt/core README example runs to success and removes its checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-snippet-'));
  try {
    const path = join(dir, '.ckpt', 'etl.ckpt');
    const result = await readmeCore(path);
    expect(result.outcome).toBe('success');
    expect(result.result).toBe(3);
    expect(result.state.completed.size).toBe(3);
    expect(existsSync(path)).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('the reducer of docs/writing-a-runner.md folds its namespaced events', async () => {
  const { Fold } = await import('@ckpt/core');
  const { transferReducer } = await import('./custom-reducer.js');
  const state = new Fold([transferReducer]).foldEvents([
    { type: 'transfer/restarted' },
    { type: 'transfer/progress' },
    { type: 'transfer/restarted' },
  ]);
  expect(state.extensions.get('transfer')).toEqual({ restarts: 2 });
});

it('the snippets of docs/embedding.md run: engine, observed events, journal', async () => {
  const { runWithEngine, observeEvents, useTheJournal } = await import('./embedding.js');
  const { createIdentity } = await import('@ckpt/core');
  const { from } = await import('rxjs');
  const runner = {
    kind: 'snippet',
    identify: () => createIdentity({ kind: 'snippet', id: 'x', version: 1, structure: [] }),
    run: () =>
      from([
        { type: 'unit-started' as const, unit: 'a' },
        { type: 'unit-completed' as const, unit: 'a', outcome: 'success' as const },
      ]),
  };
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-embed-'));
  try {
    expect(await runWithEngine(runner, null, join(dir, 'a.ckpt'), new AbortController())).toEqual({
      outcome: 'success',
      resumed: false,
      removed: true,
    });
    expect(await observeEvents(runner, null, join(dir, 'b.ckpt'))).toEqual(['a']);
    expect(await useTheJournal(join(dir, 'orders.ckpt'))).toBe(2000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('the runner of docs/writing-a-runner.md sends, fails, and resumes where it stopped, with a typed result', async () => {
  const { Engine } = await import('@ckpt/core');
  const { sendRunner } = await import('./send-runner.js');
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-send-'));
  try {
    const sent: string[] = [];
    const send = (failAt?: string) => async (item: string) => {
      if (item === failAt) throw new Error(`${item}: the sink said no`);
      sent.push(item);
    };
    const checkpoint = { path: join(dir, 'send.ckpt'), usage: 'if-exists' as const, save: true };
    const first = await new Engine().run(sendRunner, { id: 'orders', items: ['a', 'b', 'c', 'd'], send: send('c') }, { checkpoint });
    expect(first.outcome).toBe('failure');
    expect(first.error?.message).toBe('c: the sink said no');
    const second = await new Engine().run(sendRunner, { id: 'orders', items: ['a', 'b', 'c', 'd'], send: send() }, { checkpoint });
    expect(second).toMatchObject({ outcome: 'success', resumed: true, result: { sent: 2, skipped: 2 } });
    expect(sent).toEqual(['a', 'b', 'c', 'd']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('the Observable form of docs/writing-a-runner.md records, notifies and returns its result', async () => {
  const { countingRunner } = await import('./observable-runner.js');
  const { watchRun } = await import('./embedding.js');
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-count-'));
  try {
    const watched = await watchRun(countingRunner, ['x', 'y'], join(dir, 'count.ckpt'));
    expect(watched).toMatchObject({ outcome: 'success', result: 2, replayed: 0, done: ['x', 'y'], notices: [{ kind: 'counted' }] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('watchRun of docs/embedding.md tells replayed entries from new durable ones, and gets notices and the result', async () => {
  const { sendRunner } = await import('./send-runner.js');
  const { watchRun } = await import('./embedding.js');
  const { Engine } = await import('@ckpt/core');
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-watch-'));
  try {
    const path = join(dir, 'send.ckpt');
    const failing = {
      id: 'w',
      items: ['a', 'b'],
      send: async (item: string) => {
        if (item === 'b') throw new Error('no');
      },
    };
    await new Engine().run(sendRunner, failing, { checkpoint: { path, usage: 'if-exists', save: true } });
    const watched = await watchRun(sendRunner, { id: 'w', items: ['a', 'b'], send: async () => undefined }, path);
    expect(watched.outcome).toBe('success');
    expect(watched.result).toEqual({ sent: 1, skipped: 1 });
    expect(watched.replayed).toBeGreaterThan(0);
    expect(watched.done).toEqual(['b']);
    expect(watched.notices).toEqual([
      { kind: 'skipped', item: 'a' },
      { kind: 'progress', sent: 1, of: 2 },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * The docs quote these files: a code block whose first line is `// examples/snippets/<file>`
 * must appear in that file verbatim, so what the docs show is what the tests run.
 */
it('the code blocks of the docs that name a snippet file are verbatim parts of it', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  let checked = 0;
  for (const doc of ['docs/architecture.md', 'docs/writing-a-runner.md', 'docs/embedding.md']) {
    const text = readFileSync(join(root, doc), 'utf8');
    for (const [, body] of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
      const [first, ...rest] = body!.split('\n');
      const named = /^\/\/ (examples\/snippets\/[\w.-]+\.ts)$/.exec(first ?? '');
      if (!named) continue;
      const source = readFileSync(join(root, named[1]!), 'utf8');
      expect(source, `${doc}: the block quoting ${named[1]}`).toContain(rest.join('\n').trimEnd());
      checked++;
    }
  }
  expect(checked).toBeGreaterThanOrEqual(4);
});
