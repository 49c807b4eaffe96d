import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const packages = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * The installed entry point, `bin/ckpt.js`, which runs the bundle (`dist/ckpt.mjs`): what users
 * run, so what the tests that spawn the CLI run. Throws, saying how to rebuild, when the bundle
 * is missing or older than the `tsc -b` output it was made from (`tsc -b` rewrites a project's
 * `tsconfig.tsbuildinfo` whenever it rebuilds that project), so a test never passes or fails
 * on yesterday's code.
 */
export function ckptBin(): string {
  const bundle = `${packages}cli/dist/ckpt.mjs`;
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`pnpm build\` (tsc -b, then packages/cli/scripts/bundle.mjs)`);
  const bundledAt = statSync(bundle).mtimeMs;
  for (const project of ['core', 'control-flow', 'file-transfer', 'cli']) {
    const buildInfo = `${packages}${project}/tsconfig.tsbuildinfo`;
    if (existsSync(buildInfo) && statSync(buildInfo).mtimeMs > bundledAt) {
      throw new Error(
        `${bundle} is older than the tsc -b output of packages/${project}: run \`pnpm build\` (or \`node packages/cli/scripts/bundle.mjs\`)`,
      );
    }
  }
  return `${packages}cli/bin/ckpt.js`;
}
