import type { CliIo } from './output.js';

/**
 * Listens for SIGINT and SIGTERM while a verb works. The first one calls `stop` (the verb
 * records what is done and finishes with exit 130); a second one, while stopping, exits 130 at
 * once — what was recorded is durable, so nothing is lost. Returns the function that stops
 * listening.
 */
export function onInterrupt(io: CliIo, stop: (signal: NodeJS.Signals) => void): () => void {
  let stopping = false;
  const listener = (signal: NodeJS.Signals) => {
    if (!stopping) {
      stopping = true;
      stop(signal);
      return;
    }
    io.stderr.write(`${signal} again: stopping at once; the checkpoint keeps what was recorded\n`);
    process.exit(130);
  };
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  return () => {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
  };
}
