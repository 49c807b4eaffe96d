import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A frame's location in a bundled file: `file:///…/ckpt.mjs:LINE:COLUMN` (1-based). */
const BUNDLE_FRAME = /(file:\/\/\/[^\s()]+\.mjs):(\d+):(\d+)/g;

/**
 * Rewrites the frames of `stack` that point into the bundled CLI (`dist/ckpt.mjs` and its
 * chunks) to the TypeScript sources, through each file's linked `.map`; other frames, and
 * frames of files without a map, are left as they are.
 *
 * This runs only when a bug's stack trace is printed. Node's `--enable-source-maps` would map
 * every trace too, but it reads every chunk's map as the chunk loads: 6–10 % of each run's
 * start-up (docs/cli.md, "Start-up").
 */
export function mapStackTrace(stack: string): string {
  const maps = new Map<string, SourceMap | undefined>();
  return stack.replace(BUNDLE_FRAME, (frame: string, url: string, line: string, column: string) => {
    if (!maps.has(url)) maps.set(url, readLinkedMap(url));
    const map = maps.get(url);
    if (map === undefined) return frame;
    const entry = map.findEntry(Number(line) - 1, Number(column) - 1);
    if (!('originalSource' in entry)) return frame;
    // Source paths in the map are relative to the map file (see scripts/bundle.mjs).
    const source = resolve(dirname(fileURLToPath(url)), entry.originalSource);
    return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

function readLinkedMap(url: string): SourceMap | undefined {
  try {
    const path = `${fileURLToPath(url)}.map`;
    return existsSync(path) ? new SourceMap(JSON.parse(readFileSync(path, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]) : undefined;
  } catch {
    // A missing or unreadable map must not hide the error being reported: keep the raw frame.
    return undefined;
  }
}
