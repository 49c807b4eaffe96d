import { InvalidInputError } from '@ckpt/core';
import { writeJsonLine, type CliIo } from '../output.js';
import { maskStoreUrl, withStore } from '../store.js';

/** `ckpt store init URL [--json]`: creates or upgrades a store's schema; running it again changes nothing. */
export async function storeInitCommand(url: string, options: { json?: boolean }, io: CliIo): Promise<number> {
  return withStore(url, async (store) => {
    if (store.init === undefined) {
      throw new InvalidInputError(`store ${maskStoreUrl(url)} has no schema to create`, { hint: 'give a postgres:// or postgresql:// URL' });
    }
    const report = await store.init();
    if (options.json) {
      writeJsonLine(io, { type: 'store-initialized', store: store.description, ...report });
    } else if (report.fromVersion === report.toVersion) {
      io.stdout.write(`${report.where} in ${store.description} is up to date (schema version ${report.toVersion}); nothing changed\n`);
    } else {
      io.stdout.write(
        report.fromVersion === 0
          ? `created ${report.where} in ${store.description} (schema version ${report.toVersion})\n`
          : `upgraded ${report.where} in ${store.description} from schema version ${report.fromVersion} to ${report.toVersion}\n`,
      );
    }
    return 0;
  });
}
