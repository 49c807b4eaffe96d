/**
 * Every workspace package declares each package its sources and tests import (dependencies,
 * devDependencies or peerDependencies): one that resolves only through the workspace root
 * breaks for anyone who installs the package on its own.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const packages = [...readdirSync(join(root, 'packages')).map((name) => join(root, 'packages', name)), join(root, 'examples', 'line-runner')];
const builtins = new Set(builtinModules);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|mjs|js)$/.test(name) ? [path] : [];
  });
}

/** The bare specifiers a file imports: static imports and re-exports at the start of a line, and `import('...')` outside comments. */
function importsOf(source: string): string[] {
  const text = source
    .split('\n')
    .filter((line) => !/^\s*(\*|\/\*|\/\/)/.test(line))
    .join('\n');
  const patterns = [
    /^\s*(?:import|export)\b[^;'"]*?\bfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1]!));
}

function packageName(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:') || specifier.startsWith('data:')) return undefined;
  const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
  return builtins.has(name) ? undefined : name;
}

it('each workspace package declares what it imports', () => {
  const missing: string[] = [];
  for (const dir of packages) {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | string | undefined>;
    const declared = new Set(
      ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'].flatMap((key) =>
        Object.keys((manifest[key] as Record<string, string> | undefined) ?? {}),
      ),
    );
    for (const file of sourceFiles(dir)) {
      for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
        const name = packageName(specifier);
        if (name !== undefined && name !== manifest['name'] && !declared.has(name))
          missing.push(`${relative(root, file)} imports ${name}, undeclared in ${relative(root, dir)}/package.json`);
      }
    }
  }
  expect(missing).toEqual([]);
});
