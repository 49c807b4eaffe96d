import type fc from 'fast-check';

/**
 * fast-check parameters from the environment, so every failure replays from its seed:
 * `CKPT_SEED=<n>` fixes the seed (fast-check prints seed and path on failure; pass the path
 * as `CKPT_PATH` to replay only the shrunk counterexample), `CKPT_SOAK=1` multiplies the runs
 * (or `CKPT_SOAK=<factor>`), `CKPT_RUNS=<n>` sets them outright.
 */
export function propertySettings<T>(defaultRuns: number, env: NodeJS.ProcessEnv = process.env): fc.Parameters<T> {
  const seed =
    env['CKPT_SEED'] !== undefined && env['CKPT_SEED'] !== '' ? Number(env['CKPT_SEED']) : (Date.now() ^ (Math.random() * 0x1_0000_0000)) | 0;
  const runs = env['CKPT_RUNS'] !== undefined ? Number(env['CKPT_RUNS']) : defaultRuns * soakFactor(env);
  const path = env['CKPT_PATH'];
  return {
    seed,
    numRuns: runs,
    ...(path !== undefined && path !== '' && { path }),
  };
}

/** The soak multiplier: 1 normally, 100 with `CKPT_SOAK=1`, or the number given. */
export function soakFactor(env: NodeJS.ProcessEnv = process.env): number {
  const soak = env['CKPT_SOAK'];
  if (soak === undefined || soak === '' || soak === '0') return 1;
  const n = Number(soak);
  return Number.isFinite(n) && n > 1 ? n : 100;
}

/**
 * Settings for a check that must find a counterexample (the teeth tests): like
 * {@link propertySettings}, but never fewer than `minimumRuns`, whatever `CKPT_RUNS` says.
 */
export function teethSettings<T>(minimumRuns: number, env: NodeJS.ProcessEnv = process.env): fc.Parameters<T> {
  const settings = propertySettings<T>(minimumRuns, env);
  return { ...settings, numRuns: Math.max(minimumRuns, settings.numRuns ?? 0) };
}
