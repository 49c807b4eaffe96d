#!/usr/bin/env node
/**
 * Bundles the `ckpt` command from the `tsc -b` output into `dist/ckpt.mjs`, with one chunk per
 * verb under `dist/chunks/` (each with a linked `.map`), so that `bin/ckpt.js` opens a handful
 * of files instead of ~300 (rxjs's CommonJS build alone is ~220). Run after `tsc -b`; the root
 * `build`, `test` and `prepare` scripts do. `--metafile` also writes `dist/ckpt.meta.json`
 * (what went into which file; https://esbuild.github.io/analyze/ reads it).
 *
 *   node packages/cli/scripts/bundle.mjs [--metafile]
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const cliDir = dirname(dirname(fileURLToPath(import.meta.url)));
const entry = join(cliDir, 'dist', 'main.js');
if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`tsc -b\` at the repository root first`);

/**
 * rxjs's exports map lists the `node` condition first, so a Node-platform bundle would take its
 * CommonJS build, which esbuild cannot tree-shake. Its ES2015 ESM build (`dist/esm`, the
 * `es2015` condition) is the same code as modules. Only rxjs is redirected: other packages keep
 * their `node` entry (msgpackr's `node-index.js` is the one that loads the native extractor).
 */
const rxjsAsEsm = {
  name: 'rxjs-as-esm',
  setup(b) {
    b.onResolve({ filter: /^rxjs(\/.*)?$/ }, async (args) => {
      if (args.pluginData === 'rxjs-as-esm') return undefined;
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: 'rxjs-as-esm',
      });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      const cjs = `${sep}dist${sep}cjs${sep}`;
      const esm = resolved.path.replace(cjs, `${sep}dist${sep}esm${sep}`);
      if (!resolved.path.includes(cjs) || !existsSync(esm)) {
        return {
          errors: [{ text: `rxjs-as-esm: expected ${args.path} to resolve into rxjs's dist/cjs with a dist/esm twin, got ${resolved.path}` }],
        };
      }
      // rxjs declares "sideEffects": false; keep that for the redirected file.
      return { path: esm, sideEffects: false };
    });
  },
};

// Chunk names carry a content hash: clear the previous build's, or they pile up.
rmSync(join(cliDir, 'dist', 'chunks'), { recursive: true, force: true });

const result = await build({
  entryPoints: { ckpt: entry },
  // Paths in the output's comments and the metafile are relative to packages/cli, whatever the cwd.
  absWorkingDir: cliDir,
  outdir: join(cliDir, 'dist'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  /*
   * Each verb's `await import('./commands/<verb>.js')` becomes a chunk loaded only when that
   * verb runs. One file for everything made `ckpt --version` compile all 1.7 MB (zod and yaml
   * included): 1.76× `node -e 0`, against 1.2–1.3× split (bench/FINDINGS.md, first update).
   */
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  // Linked maps, composed with tsc's maps of every workspace package: they point at src/*.ts.
  // Not minified: an unmapped stack trace still names real functions and lines.
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
  metafile: process.argv.includes('--metafile'),
  plugins: [rxjsAsEsm],
  /*
   * msgpackr-extract is a native addon found at run time by node-gyp-build (from its own
   * __dirname); it cannot be inlined. msgpackr requires it inside a try/catch and falls back
   * to JavaScript when it is missing; @ckpt/cli lists it as an optional dependency so that
   * the bundle finds it next to itself, as @ckpt/core's msgpackr does. Kept on purpose: loading
   * it costs ≈6 ms of a verb's start-up, but it reads a 28 MB log ≈110 ms faster
   * (MSGPACKR_NATIVE_ACCELERATION_DISABLED=true turns it off).
   */
  /*
   * @ckpt/postgres (the PostgreSQL store adapter) and its client are a chunk of their own, loaded
   * only when a postgres:// store is given (src/store.ts): no other verb and no `ckpt --version`
   * reads them, and a --store run shares the bundle's core and rxjs instead of loading a second
   * copy from node_modules (0.5–0.8 s of start-up). pg-native is node-postgres's optional native
   * binding, required only when asked for (`pg.native`), which ckpt never does.
   */
  external: ['msgpackr-extract', 'pg-native'],
  /*
   * CommonJS dependencies inlined in an ESM file (graceful-fs, proper-lockfile, yaml's node
   * build) call require() for Node built-ins; ESM has no require, so give the bundle one.
   */
  banner: { js: "import { createRequire as __ckptCreateRequire } from 'node:module';\nconst require = __ckptCreateRequire(import.meta.url);" },
});

if (result.metafile) {
  writeFileSync(join(cliDir, 'dist', 'ckpt.meta.json'), JSON.stringify(result.metafile));
  console.log('wrote dist/ckpt.meta.json (inspect at https://esbuild.github.io/analyze/)');
}
