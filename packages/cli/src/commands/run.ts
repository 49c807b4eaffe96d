import { InvalidInputError } from '@ckpt/core';
import type { RunVerbOptions } from '../cli.js';
import type { CliIo } from '../output.js';

/** `ckpt run PACKAGE-FILE`: replaced by the control-flow runner's verb. */
export async function runCommand(_file: string, _options: RunVerbOptions, _io: CliIo): Promise<number> {
  throw new InvalidInputError('ckpt run is not available in this build yet');
}
