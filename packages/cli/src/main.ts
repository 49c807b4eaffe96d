/** Entry point of the `ckpt` command. */
import { main } from './cli.js';
import { tolerateClosedOutput } from './output.js';

// Past a file-size limit (ulimit -f) the kernel sends SIGXFSZ, whose default action kills the
// process without a word. Caught, the write fails with EFBIG instead, and the verb reports it
// like a full disk: a clear error naming the file, the checkpoint kept, a rerun resumes.
process.on('SIGXFSZ', () => undefined);

// `ckpt events --json | head`: a reader that goes away costs the output, not the job.
tolerateClosedOutput();

process.exitCode = await main(process.argv.slice(2));
