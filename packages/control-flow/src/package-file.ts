import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InvalidInputError } from '@ckpt/core';
import { Composer, Lexer, LineCounter, Parser, YAMLParseError, isNode, type Document } from 'yaml';
import { PackageLimits, compilePackage } from './compile.js';
import { PackageDefinitionError } from './errors.js';
import type { Package } from './model.js';
import { pathKeys } from './problem-location.js';
import type { TaskPlugin } from './task-context.js';

const MiB = (bytes: number): string => `${bytes / (1024 * 1024)} MiB`;

function tooLarge(file: string, bytes: number | undefined): InvalidInputError {
  return new InvalidInputError(
    `package file ${file} is ${bytes !== undefined ? `${bytes.toLocaleString('en-US')} bytes` : 'larger than the limit'}; the limit is ${MiB(PackageLimits.fileBytes)} (${PackageLimits.fileBytes.toLocaleString('en-US')} bytes)`,
    { hint: 'a package file describes steps, not data: move data into files the steps read, or split the package' },
  );
}

/** Thrown out of the token stream when the nesting passes the limit, before anything recurses. */
class TooDeep extends Error {
  constructor(readonly offset: number) {
    super('nested too deeply');
  }
}

/**
 * Parses one YAML document. The YAML library's composer and `toJS` recurse once per nesting
 * level, and a few thousand levels overflow the stack (or worse), so the nesting is checked on
 * the parser's own (iterative) stack as each token arrives, and the text is refused before
 * anything recursive sees it.
 */
function parseYaml(text: string, lineCounter: LineCounter): Document.Parsed {
  const parser = new Parser(lineCounter.addNewLine);
  lineCounter.addNewLine(0);
  function* tokens() {
    for (const lexeme of new Lexer().lex(text)) {
      yield* parser.next(lexeme);
      // The stack holds the document and one entry per open collection (plus one in passing).
      if (parser.stack.length > PackageLimits.depth + 2) throw new TooDeep(parser.offset);
    }
    yield* parser.end();
  }
  const composer = new Composer({ prettyErrors: false, uniqueKeys: true });
  let document: Document.Parsed | undefined;
  for (const doc of composer.compose(tokens(), true, text.length)) {
    if (document === undefined) document = doc;
    else {
      document.errors.push(
        new YAMLParseError(
          [doc.range[0], doc.range[1]],
          'MULTIPLE_DOCS',
          'a package file holds one document, and this is a second one (a "---" line starts another)',
        ),
      );
      break;
    }
  }
  return document!;
}

/** Parses package text (YAML, of which JSON is a subset) and compiles it. */
export function parsePackageText(
  text: string,
  options: { readonly file: string; readonly baseDir?: string; readonly plugins?: readonly TaskPlugin[] },
): Package {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > PackageLimits.fileBytes) throw tooLarge(options.file, bytes);
  const lineCounter = new LineCounter();
  const where = (offset: number): string => {
    const at = lineCounter.linePos(offset);
    return `line ${at.line}, column ${at.col}`;
  };
  let document: Document.Parsed;
  try {
    document = parseYaml(text, lineCounter);
  } catch (error) {
    if (error instanceof TooDeep) {
      throw new PackageDefinitionError(options.file, [
        `${where(error.offset)}: nested too deeply (more than ${PackageLimits.depth} levels of mappings and lists)`,
      ]);
    }
    throw error;
  }
  if (document.errors.length > 0) {
    throw new PackageDefinitionError(
      options.file,
      document.errors.map((error) => {
        const first = error.message.split('\n')[0]!;
        // The library turns a stack overflow into an error of its own; say what it means.
        const text = /Maximum call stack/i.test(first) ? `nested too deeply (more than ${PackageLimits.depth} levels of mappings and lists)` : first;
        return `${where(error.pos[0])}: ${text}`;
      }),
    );
  }
  let definition: unknown;
  try {
    definition = document.toJS({ maxAliasCount: PackageLimits.aliases });
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    const problem = /Excessive alias count/.test(text)
      ? `(top level): YAML aliases (*name) expand to too much: the limit is ${PackageLimits.aliases} alias expansions (an alias bomb?); write the values out instead`
      : error instanceof RangeError
        ? `(top level): nested too deeply (more than ${PackageLimits.depth} levels of mappings and lists)`
        : `(top level): ${text.split('\n')[0]}`;
    throw new PackageDefinitionError(options.file, [problem]);
  }
  if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) {
    throw new PackageDefinitionError(options.file, ['(top level): expected a mapping with id, version and steps']);
  }
  try {
    return compilePackage(definition, {
      source: options.file,
      file: options.file,
      baseDir: options.baseDir ?? dirname(resolve(options.file)),
      ...(options.plugins !== undefined && { plugins: options.plugins }),
    });
  } catch (error) {
    if (!(error instanceof PackageDefinitionError)) throw error;
    // Each problem's field, found in the document: where the YAML parser placed it.
    throw error.withDetails((problem) => {
      if (problem.path === undefined || problem.line !== undefined) return problem;
      const keys = pathKeys(definition, problem.path);
      let node: unknown = document.contents;
      // The deepest node of the path that exists (a null value has none).
      for (let n = keys.length; n > 0; n--) {
        const found = document.getIn(keys.slice(0, n), true);
        if (isNode(found) && found.range) {
          node = found;
          break;
        }
      }
      const offset = isNode(node) ? node.range?.[0] : undefined;
      if (offset === undefined) return problem;
      const at = lineCounter.linePos(offset);
      return { ...problem, line: at.line, column: at.col };
    });
  }
}

/** Reads at most `PackageLimits.fileBytes` (one more tells it is too large) without trusting the reported size. */
async function readBounded(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const stat = await handle.stat();
    if (stat.isFile() && stat.size > PackageLimits.fileBytes) throw tooLarge(file, stat.size);
    const buffer = Buffer.alloc(PackageLimits.fileBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > PackageLimits.fileBytes) throw tooLarge(file, stat.isFile() ? stat.size : undefined);
    return buffer.toString('utf8', 0, length);
  } finally {
    await handle.close();
  }
}

/**
 * Reads and compiles a package file (YAML or JSON). Relative paths resolve against its folder.
 * Files over {@link PackageLimits.fileBytes} are refused before they are read.
 */
export async function loadPackageFile(file: string, options: { readonly plugins?: readonly TaskPlugin[] } = {}): Promise<Package> {
  let text: string;
  try {
    text = await readBounded(file);
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    const code = (error as { code?: string }).code;
    throw new InvalidInputError(`cannot read package file ${file}${code ? ` (${code})` : ''}`, {
      cause: error,
      hint: code === 'ENOENT' ? 'check the path' : 'check the file and its permissions',
    });
  }
  return parsePackageText(text, { file, ...(options.plugins !== undefined && { plugins: options.plugins }) });
}
