import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InvalidInputError } from '@ckpt/core';
import { LineCounter, parseDocument } from 'yaml';
import { compilePackage } from './compile.js';
import { PackageDefinitionError } from './errors.js';
import type { Package } from './model.js';
import type { TaskPlugin } from './task-context.js';

/** Parses package text (YAML, of which JSON is a subset) and compiles it. */
export function parsePackageText(text: string, options: { readonly file: string; readonly baseDir?: string; readonly plugins?: readonly TaskPlugin[] }): Package {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new PackageDefinitionError(
      options.file,
      document.errors.map((error) => {
        const at = lineCounter.linePos(error.pos[0]);
        return `line ${at.line}, column ${at.col}: ${error.message.split('\n')[0]}`;
      }),
    );
  }
  const definition: unknown = document.toJS({ maxAliasCount: 100 });
  if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) {
    throw new PackageDefinitionError(options.file, ['(top level): expected a mapping with id, version and steps']);
  }
  return compilePackage(definition, {
    source: options.file,
    file: options.file,
    baseDir: options.baseDir ?? dirname(resolve(options.file)),
    ...(options.plugins !== undefined && { plugins: options.plugins }),
  });
}

/** Reads and compiles a package file (YAML or JSON). Relative paths resolve against its folder. */
export async function loadPackageFile(file: string, options: { readonly plugins?: readonly TaskPlugin[] } = {}): Promise<Package> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new InvalidInputError(`cannot read package file ${file}${code ? ` (${code})` : ''}`, {
      cause: error,
      hint: code === 'ENOENT' ? 'check the path' : 'check the file and its permissions',
    });
  }
  return parsePackageText(text, { file, ...(options.plugins !== undefined && { plugins: options.plugins }) });
}
