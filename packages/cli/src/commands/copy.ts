import { InvalidInputError } from '@ckpt/core';
import type { CopyVerbOptions } from '../cli.js';
import type { CliIo } from '../output.js';

/** `ckpt copy SOURCE DESTINATION`: replaced by the file-transfer runner's verb. */
export async function copyCommand(_source: string, _destination: string, _options: CopyVerbOptions, _io: CliIo): Promise<number> {
  throw new InvalidInputError('ckpt copy is not available in this build yet');
}
