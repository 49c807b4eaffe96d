/**
 * Suite 8 — CLI start-up: `ckpt --version` against `node -e 0`. Every `ckpt` invocation in a
 * scheduler's job pays this; the peer is the floor, a bare Node start on the same machine.
 */
import { alternate, figure, goal } from '../lib/measure.mjs';
import { runProcess } from '../lib/ckpt.mjs';

export const id = 'cli-startup';
export const number = 8;
export const title = 'CLI start-up';

export async function run(ctx) {
  const rounds = ctx.quick ? 3 : 20;
  const spawnMs = async (args) => {
    const result = await runProcess(process.execPath, args, { cwd: ctx.paths.root, timeoutMs: 60_000 });
    if (result.code !== 0) throw new Error(`${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
    return result.ms;
  };
  const samples = await alternate(
    [
      { key: 'ckpt', run: () => spawnMs([ctx.paths.cliMain, '--version']) },
      { key: 'node', run: () => spawnMs(['-e', '0']) },
    ],
    { rounds, warmup: 2 },
  );
  const fig = figure({
    id: 'cli-startup',
    label: 'wall time of one process, spawn to exit',
    unit: 'ms',
    better: 'lower',
    rows: [
      { key: 'ckpt', label: 'node packages/cli/dist/main.js --version', role: 'subject', samples: samples.ckpt },
      { key: 'node', label: 'node -e 0', samples: samples.node },
    ],
  });
  return {
    params: { rounds },
    figures: [fig],
    goals: [goal({ text: '≤ 1.5× node -e 0', figure: fig, subject: 'ckpt', peer: 'node', op: '<=', threshold: 1.5 })],
    diagnose: async () => ctx.profile({ label: 'ckpt --version', argv: [ctx.paths.cliMain, '--version'] }),
  };
}
