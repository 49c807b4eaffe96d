import { InvalidInputError } from '@ckpt/core';
import type { ServeVerbOptions } from '../cli.js';
import type { CliIo } from '../output.js';

/** `ckpt serve`: replaced by the file-transfer runner's verb. */
export async function serveCommand(_options: ServeVerbOptions, _io: CliIo): Promise<number> {
  throw new InvalidInputError('ckpt serve is not available in this build yet');
}
