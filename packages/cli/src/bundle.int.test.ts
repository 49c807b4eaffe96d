/**
 * The bundled CLI (scripts/bundle.mjs) as installed: what it is made of, and the dependencies
 * that are easy to break by bundling (native add-on, CommonJS lock files) working through it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mapStackTrace } from './map-stack-trace.js';
import { ckptBin } from './test-support/ckpt-bin.js';

const bin = ckptBin();
const dist = resolve(dirname(bin), '..', 'dist');
const entry = join(dist, 'ckpt.mjs');
const outputs = [
  entry,
  ...readdirSync(join(dist, 'chunks'))
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => join(dist, 'chunks', f)),
];
const text = (file: string) => readFileSync(file, 'utf8');

/** The files an output imports statically (`import … from "./x.mjs"`), transitively. */
function staticClosure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const [, specifier] of text(file).matchAll(/^(?:import\s*\{[^}]*\}\s*from|\}\s*from|import)\s*"(\.[^"]+)"/gm)) {
    staticClosure(resolve(dirname(file), specifier as string), seen);
  }
  return seen;
}

describe('the bundled CLI', () => {
  it('is what bin/ckpt.js runs', () => {
    expect(text(bin)).toMatch(/import '\.\.\/dist\/ckpt\.mjs'/);
    expect(spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('loads no library, rxjs, yaml or zod code before a verb runs (--version and --help stay light)', () => {
    const eager = staticClosure(entry);
    expect(eager.size).toBeLessThan(outputs.length);
    for (const file of eager) {
      // esbuild names each inlined module in a comment: `// ../core/dist/errors.js`.
      expect(text(file), file).not.toMatch(/^\/\/ .*(\/(core|control-flow|file-transfer)\/dist\/|\/node_modules\/(rxjs|yaml|zod)\/)/m);
    }
  });

  it("inlines rxjs's ES module build, not its CommonJS build", () => {
    const all = outputs.map(text).join('\n');
    expect(all).toMatch(/^\/\/ .*\/node_modules\/rxjs\/dist\/esm\//m);
    expect(all).not.toMatch(/\/node_modules\/rxjs\/dist\/cjs\//);
  });

  it("leaves msgpackr's native extractor external, and it resolves from the bundle", () => {
    const requiring = outputs.filter((file) => text(file).includes('__require("msgpackr-extract")'));
    expect(requiring).toHaveLength(1);
    expect(() => createRequire(requiring[0] as string).resolve('msgpackr-extract')).not.toThrow();
  });

  it('links a source map to every output, pointing at TypeScript sources that exist', () => {
    for (const file of outputs) {
      expect(
        text(file)
          .trimEnd()
          .endsWith(`//# sourceMappingURL=${file.slice(dirname(file).length + 1)}.map`),
        file,
      ).toBe(true);
      const map = JSON.parse(text(`${file}.map`)) as { sources: string[] };
      for (const source of map.sources.filter((s) => !s.includes('node_modules'))) {
        expect(source, file).toMatch(/\/src\/.*\.ts$/);
        expect(existsSync(resolve(dirname(file), source)), source).toBe(true);
      }
    }
    const lines = text(entry).split('\n');
    const line = lines.findIndex((l) => l.startsWith('process.exitCode = await main(')) + 1;
    const mainTs = resolve(dist, '..', 'src', 'main.ts');
    const sourceLine =
      text(mainTs)
        .split('\n')
        .findIndex((l) => l.startsWith('process.exitCode = await main(')) + 1;
    expect(mapStackTrace(`    at ${pathToFileURL(entry).href}:${line}:1`)).toBe(`    at ${mainTs}:${sourceLine}:1`);
  });
});

describe('proper-lockfile and graceful-fs, bundled', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ckpt-bundle-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a second run of a package while the first holds its checkpoint is refused as locked (exit 2)', async () => {
    const pkg = join(dir, 'slow.yaml');
    writeFileSync(
      pkg,
      'id: slow\nversion: 1\ncheckpoint: { file: slow.ckpt, usage: if-exists, save: true }\nsteps:\n  - { id: wait, exec: [sleep, "30"] }\n',
    );
    const first = spawn(process.execPath, [bin, 'run', pkg, '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      // The step has started once its event is out: the checkpoint is open and locked.
      await new Promise<void>((started, failed) => {
        first.stdout.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('"step-started"') && started());
        first.on('exit', (code) => failed(new Error(`the first run exited ${code} before its step started`)));
      });
      const second = spawnSync(process.execPath, [bin, 'run', pkg], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      expect(second.status).toBe(2);
      expect(second.stderr).toMatch(/slow\.ckpt is locked by pid \d+/);
    } finally {
      const exited = new Promise((done) => first.on('exit', done));
      first.kill('SIGINT');
      await exited;
    }
    // Interrupted, the first run released its lock: a rerun takes the checkpoint over.
    expect(existsSync(join(dir, 'slow.ckpt.lock'))).toBe(false);
  });
});
