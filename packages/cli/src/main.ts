/** Entry point of the `ckpt` command. */
import { main } from './cli.js';

process.exitCode = await main(process.argv.slice(2));
