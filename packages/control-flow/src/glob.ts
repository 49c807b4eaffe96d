import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** A glob (`*`, `?`, `**`) as a regular expression over `/`-separated relative paths. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        out += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
        i += glob[i + 2] === '/' ? 2 : 1;
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** Files under `baseDir` matching `glob` (relative, `/`-separated), sorted. */
export async function matchFiles(baseDir: string, glob: string): Promise<string[]> {
  const pattern = globToRegExp(glob.replace(/^\.\//, ''));
  const found: string[] = [];
  const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
    if (depth > 32) return;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) await walk(join(dir, entry.name), path, depth + 1);
      else if (entry.isFile() && pattern.test(path)) found.push(path);
    }
  };
  await walk(baseDir, '', 0);
  return found.sort();
}
